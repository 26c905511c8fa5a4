"""Clients for the shared fast store (Redis), when REDIS_URL is configured.

Redis is only ever a fast path: the database is the source of truth, so every caller falls
back to it when Redis is unset or unreachable. After a failure Redis is skipped for a short
while so that an outage costs one timeout, not one per request.
"""

from __future__ import annotations

import asyncio
import time
import weakref

import redis
import redis.asyncio as aredis_lib
from django.conf import settings

# Seconds to skip Redis after a connection failure before trying it again.
RETRY_AFTER_FAILURE = 1.0
_TIMEOUT = 0.5
_down_until = 0.0
_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aredis_lib.Redis]" = weakref.WeakKeyDictionary()
_sync_client: redis.Redis | None = None

RedisError = redis.RedisError


def enabled() -> bool:
    return bool(settings.REDIS_URL)


def available() -> bool:
    """Configured and not known to be down right now."""
    return enabled() and time.monotonic() >= _down_until


def mark_down() -> None:
    global _down_until
    _down_until = time.monotonic() + RETRY_AFTER_FAILURE


def mark_up() -> None:
    global _down_until
    _down_until = 0.0


def aclient(*, probe: bool = False) -> aredis_lib.Redis | None:
    """The asyncio client bound to the running loop, or None when Redis is unusable.

    With `probe`, the client is returned even while Redis is marked down (readiness checks
    must tell the truth) without re-enabling it for other callers.
    """
    if not (available() or (probe and enabled())):
        return None
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = aredis_lib.Redis.from_url(
            settings.REDIS_URL, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT,
            health_check_interval=30,
        )
        _async_clients[loop] = client
    return client


def client() -> redis.Redis | None:
    """The synchronous client (admin, commands, Celery), or None when Redis is unusable."""
    global _sync_client
    if not available():
        return None
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT,
            health_check_interval=30,
        )
    return _sync_client
