"""Read the Celery tasks a request queued on the real broker, and run them in this process.

Unit tests use this instead of a worker: the messages are the ones a worker would get (same
broker, same serialisation), taken off the default queue and applied with their own task id.
"""

from __future__ import annotations

import queue as stdlib_queue
from dataclasses import dataclass
from typing import Any

from authsite.celery import app

DEFAULT_QUEUE = "celery"


@dataclass(frozen=True)
class Queued:
    task: str
    id: str
    args: list[Any]
    kwargs: dict[str, Any]
    raw: bytes  # the message body as the broker holds it


def take_all(queue: str = DEFAULT_QUEUE) -> list[Queued]:
    """Remove and return every message waiting on `queue`, oldest first."""
    taken: list[Queued] = []
    with app.connection_for_read() as conn:
        simple = conn.SimpleQueue(queue)
        try:
            while True:
                try:
                    message = simple.get(block=False)
                except stdlib_queue.Empty:
                    break
                args, kwargs, _ = message.decode()
                taken.append(Queued(message.headers["task"], message.headers["id"], list(args), dict(kwargs),
                                    message.body if isinstance(message.body, bytes) else str(message.body).encode()))
                message.ack()
        finally:
            simple.close()
    return taken


def run_all(queue: str = DEFAULT_QUEUE) -> list[Queued]:
    """Take every waiting message and apply its task here (retries run at once, same id)."""
    taken = take_all(queue)
    for item in taken:
        result = app.tasks[item.task].apply(args=item.args, kwargs=item.kwargs, task_id=item.id)
        result.get()  # re-raises what the task raised
    return taken
