"""Counting the calls of an async method while they still do their real work."""

from __future__ import annotations

from typing import Any


def count_calls(obj: Any, name: str) -> list[int]:
    """Wrap `obj.name` (a coroutine method) so that each call is counted in the returned
    one-item list, then runs as before."""
    sent = [0]
    real = getattr(obj, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        sent[0] += 1
        return await real(*args, **kwargs)

    setattr(obj, name, counted)
    return sent
