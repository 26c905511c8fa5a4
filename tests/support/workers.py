"""Real Celery worker processes for end-to-end tests: any queues, any pool, killable as a group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from authsite.celery import app as celery_app
from tests.support.servers import ROOT, free_port


class Worker:
    """A running `celery worker`; its own session, so its whole process group can be killed."""

    def __init__(self, env: dict[str, str], log: Path, queues: str, concurrency: int, pool: str):
        self.name = f"w{free_port()}@localhost"
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "authsite", "worker", "--pool", pool, "--concurrency",
             str(concurrency), "-Q", queues, "--loglevel", "INFO", "--hostname", self.name, "--without-gossip",
             "--without-mingle"],
            cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, log.read_text(errors="replace")
            replies = celery_app.control.ping(destination=[self.name], timeout=1.0)
            if any(self.name in reply for reply in replies):
                return
            assert time.monotonic() < deadline, log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and every child of it, at once (a machine losing power)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()


@contextmanager
def celery_worker(env: dict[str, str], log: Path, queues: str = "celery,bulk", concurrency: int = 1,
                  pool: str = "solo") -> Iterator[Worker]:
    worker = Worker(env, log, queues, concurrency, pool)
    try:
        yield worker
    finally:
        worker.stop()
