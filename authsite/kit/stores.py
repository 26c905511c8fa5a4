"""Clients for the shared fast store (Redis), when REDIS_URL is configured.

Redis is only ever a fast path: the database is the source of truth, so every caller falls
back to it when Redis is unset or unreachable (`call` / `acall`). After a failure Redis is
skipped for a short while so that an outage costs one timeout, not one per request.

A Redis that may evict keys (a `maxmemory` with any policy but `noeviction`) is not used at
all: an evicted revocation would make a revoked token valid again, an evicted counter would
reset a throttle. The policy is read at start, on /readyz and periodically (`note_policy`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
import redis.asyncio as aredis_lib
from django.conf import settings
from django.core.signals import setting_changed

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds to skip Redis after a connection failure before trying it again.
RETRY_AFTER_FAILURE = 1.0
_TIMEOUT = 0.5

RedisError = redis.RedisError


class _State:
    """This process's clients and whether Redis is known to be down."""

    def __init__(self) -> None:
        self.down_until = 0.0
        self.async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aredis_lib.Redis] = (
            weakref.WeakKeyDictionary())
        self.sync_client: redis.Redis | None = None
        self.coalescers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Coalescer] = (
            weakref.WeakKeyDictionary())
        self.evicting = False


_state = _State()


def reset(**kwargs: object) -> None:
    """Drop this process's clients and forget any outage (they are rebuilt from settings)."""
    global _state
    _state = _State()


def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "REDIS_URL":
        reset()


setting_changed.connect(_on_setting_changed)


def enabled() -> bool:
    return bool(settings.REDIS_URL)


def available() -> bool:
    """Configured, not known to be down right now, and not evicting keys."""
    return enabled() and not _state.evicting and time.monotonic() >= _state.down_until


def evicts(memory_info: dict[str, Any]) -> bool:
    """Whether a Redis with this `INFO memory` may drop keys under memory pressure."""
    try:
        limit = int(memory_info.get("maxmemory", 0) or 0)
    except (TypeError, ValueError):
        return True
    return limit > 0 and memory_info.get("maxmemory_policy") != "noeviction"


def note_policy(memory_info: dict[str, Any]) -> bool:
    """Record whether Redis evicts (from its `INFO memory`); True when it does."""
    evicting = evicts(memory_info)
    if evicting and not _state.evicting:
        logger.warning("redis may evict keys (maxmemory-policy %s): not used until that changes",
                       memory_info.get("maxmemory_policy"))
    _state.evicting = evicting
    return evicting


def check_policy() -> bool | None:
    """Read Redis's eviction policy now (sync); None when Redis is unset or unreachable."""
    if not enabled():
        return None
    try:
        return note_policy(_sync().info("memory"))
    except RedisError:
        mark_down()
        return None


def mark_down() -> None:
    _state.down_until = time.monotonic() + RETRY_AFTER_FAILURE


def mark_up() -> None:
    _state.down_until = 0.0


def _options() -> dict[str, Any]:
    return {"socket_timeout": _TIMEOUT, "socket_connect_timeout": _TIMEOUT, "health_check_interval": 30}


def aclient(*, probe: bool = False) -> aredis_lib.Redis | None:
    """The asyncio client bound to the running loop, or None when Redis is unusable.

    With `probe`, the client is returned even while Redis is marked down or evicting (readiness
    checks must tell the truth) without re-enabling it for other callers.
    """
    if not (available() or (probe and enabled())):
        return None
    loop = asyncio.get_running_loop()
    client = _state.async_clients.get(loop)
    if client is None:
        client = aredis_lib.Redis.from_url(settings.REDIS_URL, **_options())
        _state.async_clients[loop] = client
    return client


def client() -> redis.Redis | None:
    """The synchronous client (admin, commands, Celery), or None when Redis is unusable."""
    if not available():
        return None
    return _sync()


def _sync() -> redis.Redis:
    if _state.sync_client is None:
        _state.sync_client = redis.Redis.from_url(settings.REDIS_URL, **_options())
    return _state.sync_client


def _failed(what: str, on_error: Callable[[], None] | None) -> None:
    mark_down()
    logger.warning("redis unavailable for %s; using the fallback", what)
    if on_error is not None:
        on_error()


def call(op: Callable[[redis.Redis], T], fallback: Callable[[], T], *, what: str = "a request",
         on_error: Callable[[], None] | None = None) -> T:
    """`op(client)` on Redis; `fallback()` when Redis is unset, marked down, or fails now
    (then it is marked down, and `on_error()` runs before the fallback)."""
    redis_client = client()
    if redis_client is not None:
        try:
            return op(redis_client)
        except RedisError:
            _failed(what, on_error)
    return fallback()


async def acall(op: Callable[[aredis_lib.Redis], Awaitable[T]], fallback: Callable[[], Awaitable[T] | T], *,
                what: str = "a request", on_error: Callable[[], None] | None = None) -> T:
    """Async twin of `call`: `await op(client)`, else `fallback()` (awaited if it is a coroutine)."""
    redis_client = aclient()
    if redis_client is not None:
        try:
            return await op(redis_client)
        except RedisError:
            _failed(what, on_error)
    result = fallback()
    if inspect.isawaitable(result):
        return await result
    return result  # type: ignore[return-value]


class _Coalescer:
    """The MGETs asked for during one turn of an event loop, sent as one MGET: under load,
    concurrent requests share a round trip instead of paying a system call each."""

    def __init__(self, client: aredis_lib.Redis) -> None:
        self.client = client
        self.waiting: list[tuple[list[str], asyncio.Future[list[Any]]]] = []
        self.sending: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    def add(self, keys: list[str]) -> asyncio.Future[list[Any]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if not self.waiting:
            # Runs after the callbacks already due in this turn: their MGETs join this one.
            task = loop.create_task(self._send())
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)
        self.waiting.append((keys, future))
        return future

    async def _send(self) -> None:
        batch, self.waiting = self.waiting, []
        try:
            values = await self.client.mget([key for keys, _ in batch for key in keys])
        except BaseException as exc:  # noqa: BLE001 - every waiter hears it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RedisError(type(exc).__name__))
            return
        start = 0
        for keys, future in batch:
            if not future.done():  # a waiter may have been cancelled (client gone)
                future.set_result(values[start:start + len(keys)])
            start += len(keys)


def _coalescer(client: aredis_lib.Redis) -> _Coalescer:
    loop = asyncio.get_running_loop()
    coalescer = _state.coalescers.get(loop)
    if coalescer is None or coalescer.client is not client:
        coalescer = _state.coalescers[loop] = _Coalescer(client)
    return coalescer


async def amget(keys: list[str], *, what: str = "a request") -> list[Any] | None:
    """The values of `keys` in one MGET shared with the other MGETs of this loop turn; None
    when Redis is unset, marked down or fails now (then it is marked down)."""
    return await acall(lambda client: _coalescer(client).add(keys), lambda: None, what=what)


async def aprobe() -> bool:
    """Ping Redis even while it is marked down (readiness must tell the truth); only a success
    turns it back on for other callers. True when Redis answers or is not configured."""
    if not enabled():
        return True
    try:
        client = aclient(probe=True)
        await client.ping()  # type: ignore[union-attr]
        # A Redis that may evict is "not ready" too: nothing is kept in it (see above).
        if note_policy(await client.info("memory")):  # type: ignore[union-attr]
            return False
    except RedisError:
        mark_down()
        return False
    mark_up()
    return True
