"""Is a session revoked? The database decides; Redis answers fast.

The database holds the truth (Session.revoked_at; a deleted session is revoked). Redis holds
`rev:s:<sid>` for every session revoked within the last access-token lifetime, and a
`rev:ready` marker saying that set is complete. Without the marker (a flushed or restarted
Redis, or after an outage) answers come from the database until one process has reloaded the
set from it. Revocations are written to the database first, then to Redis, so every worker
process and machine sharing REDIS_URL/the database sees them at once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from authsite.kit import stores
from tokens.models import Session

logger = logging.getLogger(__name__)

READY_KEY = "rev:ready"
LOADING_KEY = "rev:loading"
# The complete set is re-read from the database at least this often.
READY_TTL = 300
_state = {"resync": False}
# Revocation keys that could not be written to Redis, retried in the background until they are:
# a Redis that was only unreachable (not restarted) comes back with its old `rev:ready` marker,
# and processes that never saw the outage would trust it and miss these revocations.
PENDING_RETRY_INTERVAL = 0.2
_pending: set[str] = set()
_pending_lock = threading.Lock()
_retrier: list[threading.Thread] = []


def reset() -> None:
    """Forget that this process saw a Redis outage (as in a new process)."""
    _state["resync"] = False


def _key(sid: str) -> str:
    return f"rev:s:{sid}"


def _mark_ttl() -> int:
    # After this, every access token of the session has expired: the marker can go.
    return settings.ACCESS_TOKEN_TTL + settings.JWT_LEEWAY + 1


def _db_is_revoked(sid: str) -> bool:
    try:
        uuid.UUID(sid)
    except ValueError:
        return True
    return not Session.objects.filter(pk=sid, revoked_at__isnull=True).exists()


def _reload_on(client: Any) -> int:
    if not client.set(LOADING_KEY, "1", nx=True, ex=30):
        return 0  # another process is reloading
    cutoff = timezone.now() - timedelta(seconds=_mark_ttl())
    count = 0
    pipe = client.pipeline(transaction=False)
    for sid in Session.objects.filter(revoked_at__gt=cutoff).values_list("pk", flat=True).iterator():
        pipe.set(_key(str(sid)), "1", ex=_mark_ttl())
        count += 1
        if count % 1000 == 0:
            pipe.execute()
    pipe.set(READY_KEY, "1", ex=READY_TTL)
    pipe.delete(LOADING_KEY)
    pipe.execute()
    _state["resync"] = False
    return count


def reload() -> int:
    """Copy every recently revoked session from the database into Redis, then set the marker."""
    return stores.call(_reload_on, lambda: 0, what="revocation")


def _refill() -> None:
    """Reload the revoked set into Redis. After an outage this process saw, drop the marker
    first: a revocation written meanwhile is only in the database, so every process must fall
    back to it until the set is complete again."""
    if _state["resync"] and not stores.call(lambda client: client.delete(READY_KEY) >= 0, lambda: False,
                                            what="revocation"):
        return
    reload()


def _db_answer_and_refill(sid: str) -> bool:
    # One thread hop for both: the answer from the database, then the set restored.
    revoked = _db_is_revoked(sid)
    _refill()
    return revoked


def _saw_outage() -> None:
    _state["resync"] = True


async def acheck(sid: str, also_get: str | None = None) -> tuple[bool, bytes | None]:
    """Whether session `sid` is revoked (or does not exist), plus the value of Redis key
    `also_get` fetched in the same round trip (None when absent or when Redis is not used)."""
    keys = [READY_KEY, _key(sid)] + ([also_get] if also_get else [])
    values = await stores.acall(lambda client: client.mget(keys), lambda: None, what="revocation",
                                on_error=_saw_outage)
    if values is None:
        return await sync_to_async(_db_is_revoked)(sid), None
    extra = values[2] if also_get else None
    if values[0] is not None and not _state["resync"]:
        return values[1] is not None, extra
    return await sync_to_async(_db_answer_and_refill)(sid), extra


def publish(session_ids: Iterable[object]) -> None:
    """Tell Redis about sessions just revoked in the database."""
    keys = [_key(str(sid)) for sid in session_ids]
    if keys:
        stores.call(lambda client: _write_keys(client, keys), lambda: _keep_for_later(keys), what="revocation")


def _keep_for_later(keys: list[str]) -> None:
    """Redis is configured but unusable: the revocations are in the database only for now."""
    if not stores.enabled():
        return
    _saw_outage()
    _retry_later(keys)
    logger.warning("redis unavailable: %d revocation(s) kept in the database only", len(keys))


def _write_keys(client: Any, keys: list[str]) -> bool:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, "1", ex=_mark_ttl())
    pipe.execute()
    return True


def _retry_later(keys: list[str]) -> None:
    with _pending_lock:
        _pending.update(keys)
        if not _retrier:
            thread = threading.Thread(target=_retry_pending, name="revocation-retry", daemon=True)
            _retrier.append(thread)
            thread.start()


def _retry_pending() -> None:
    """Write pending revocation keys to Redis as soon as it answers again, then exit."""
    while True:
        time.sleep(PENDING_RETRY_INTERVAL)
        with _pending_lock:
            keys = list(_pending)
            if not keys:
                _retrier.clear()
                return
        if not stores.call(lambda client: _write_keys(client, keys), lambda: False, what="revocation"):
            continue
        with _pending_lock:
            _pending.difference_update(keys)
        logger.info("redis back: %d pending revocation(s) written", len(keys))


def revoke_sessions(*, reason: str, user_id: int | None = None,
                    session_ids: Iterable[object] | None = None) -> list[str]:
    """Revoke every live session of `user_id`, or those of `session_ids` (of `user_id` only,
    when both are given); return the ids revoked."""
    if user_id is None and session_ids is None:
        raise ValueError("revoke_sessions needs user_id or session_ids")
    live = Session.objects.filter(revoked_at__isnull=True)
    if user_id is not None:
        live = live.filter(user_id=user_id)
    if session_ids is not None:
        live = live.filter(pk__in=list(session_ids))
    now = timezone.now()
    ids = list(live.values_list("pk", flat=True))
    if ids:
        Session.objects.filter(pk__in=ids, revoked_at__isnull=True).update(revoked_at=now, revoked_reason=reason[:32])
        publish(ids)
    return [str(i) for i in ids]
