"""Work that must finish even when the request awaiting it is cancelled (its client went away):
a revocation half done, or done but not told, is worse than one that outlives its request."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# The loop keeps only weak references to tasks: these are kept here until they end.
_running: set[asyncio.Task[Any]] = set()


async def uncancellable(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` in its own task and wait for it; if the caller is cancelled, the task goes on."""
    task = asyncio.ensure_future(work)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return await asyncio.shield(task)


def running() -> int:
    """How many such tasks have not ended yet."""
    return len(_running)
