"""Is a session revoked? The database decides; Redis answers fast.

The database holds the truth: `Session.revoked_at` (a deleted session is revoked) and the
revocation journal (`tokens.models.Revocation`), whose ids are a sequence. Redis holds
`rev:s:<sid>` for every session revoked within the last access-token lifetime (plus a margin)
and the marker `rev:ready` = N, meaning "every revocation up to sequence N is here".

A process trusts Redis only while the marker is there and N is at least the highest sequence
the process knows to be committed: its own revocations, and the database's highest, read every
REVOCATION_POLL_SECONDS by the watcher thread of each server process. A Redis that lost keys
(restored from a snapshot, failed over to a lagging replica, flushed) carries an older N or
none: every process then answers from the database until one has reloaded the set. A Redis
that may evict keys is not used at all (authsite.stores).

Revocations are written to the database inside the caller's transaction and told to Redis
after it commits. A journal row stays `published=False` until Redis has it: the watcher of any
process publishes rows left behind by a process that died or met a Redis outage.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import Max
from django.utils import timezone

from authsite.kit import stores
from tokens import queries
from tokens.models import Revocation, Session

logger = logging.getLogger(__name__)

READY_KEY = "rev:ready"
LOADING_KEY = "rev:loading"
# The complete set is re-read from the database at least this often.
READY_TTL = 300
# Journal rows still unpublished this long after the revocation are published by the watcher
# (the revoking process normally does it right after its commit).
LEFT_BEHIND_AFTER = 1.0
_state: dict[str, int] = {"known": 0}
_state_lock = threading.Lock()
_watcher: list[threading.Thread] = []

# Raises the marker to ARGV[1] if it is there and lower; never creates it (only a reload,
# which copies the whole set, may claim completeness).
_RAISE = """
local current = redis.call('GET', KEYS[1])
if current and (tonumber(current) or 0) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
end
return 0
"""

Entry = tuple[int, str]  # (journal sequence number, session id)


def reset() -> None:
    """Forget the sequence numbers learnt (as in a new process)."""
    with _state_lock:
        _state["known"] = 0


def _key(sid: str) -> str:
    return f"rev:s:{sid}"


def key_ttl() -> int:
    """Seconds a revocation stays in Redis: after that, every access token of the session has
    expired, even on a machine whose clock is behind."""
    return settings.ACCESS_TOKEN_TTL + settings.JWT_LEEWAY + settings.REVOCATION_KEY_MARGIN


def _note_known(seq: int) -> None:
    with _state_lock:
        if seq > _state["known"]:
            _state["known"] = seq


def _marker_value(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


# --- Writing ---

def journal(session_ids: Iterable[object], when: datetime) -> None:
    """Record revocations in the journal, in the caller's transaction; Redis is told when it
    commits (nothing is told if it rolls back)."""
    rows = Revocation.objects.bulk_create([Revocation(session_id=sid, revoked_at=when) for sid in session_ids])
    entries = [(row.pk, str(row.session_id)) for row in rows]
    if entries:
        transaction.on_commit(lambda: publish(entries), robust=True)


def revoke_sessions(*, reason: str, user_id: int | None = None,
                    session_ids: Sequence[object] | None = None) -> list[str]:
    """Revoke every live session of `user_id` and/or among `session_ids`; return their ids.

    Runs inside the caller's transaction when there is one: the revocation commits or rolls
    back with the change that caused it.
    """
    filters: dict[str, object] = {}
    if user_id is not None:
        filters["user_id"] = user_id
    if session_ids is not None:
        filters["pk__in"] = list(session_ids)
    if not filters:
        raise ValueError("revoke_sessions needs user_id or session_ids")
    now = timezone.now()
    with transaction.atomic():
        ids = list(Session.objects.filter(revoked_at__isnull=True, **filters).values_list("pk", flat=True))
        if ids:
            Session.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
                revoked_at=now, revoked_reason=reason[:32])
            journal(ids, now)
    if ids and reason == "refresh_reuse":
        logger.warning("security: refresh token family revoked", extra={"event": "family_revoked",
                                                                       "session_id": str(ids[0])})
    return [str(i) for i in ids]


def _told(entries: Sequence[Entry]) -> Any:
    """The pipeline that tells Redis about `entries` (sync or async client alike); the caller
    runs it."""
    top = max(seq for seq, _ in entries)
    _note_known(top)

    def pipeline(client: Any) -> Any:
        pipe = client.pipeline(transaction=False)
        for _, sid in entries:
            pipe.set(_key(sid), "1", ex=key_ttl())
        pipe.eval(_RAISE, 1, READY_KEY, top)
        return pipe

    return pipeline


def publish(entries: Sequence[Entry]) -> None:
    """Tell Redis about committed revocations, then mark them published in the journal."""
    if not entries:
        return
    pipeline = _told(entries)

    def tell(client: Any) -> bool:
        pipeline(client).execute()
        return True

    # When Redis is unusable the rows stay unpublished: a watcher publishes them later.
    if stores.call(tell, lambda: False, what="revocation"):
        Revocation.objects.filter(pk__in=[seq for seq, _ in entries], published=False).update(published=True)


async def apublish(entries: Sequence[Entry]) -> None:
    """Async twin of `publish`, on the async pool (authsite.kit.asyncdb)."""
    if not entries:
        return
    pipeline = _told(entries)

    async def tell(client: Any) -> bool:
        await pipeline(client).execute()
        return True

    if await stores.acall(tell, lambda: False, what="revocation"):
        try:
            await queries.amark_published([seq for seq, _ in entries])
        except DatabaseError as exc:
            # Committed and told: only the bookkeeping is missing, and a watcher redoes it.
            logger.warning("revocations published but not marked: %s", type(exc).__name__)


async def arevoke_sessions(*, reason: str, session_ids: Sequence[object]) -> list[str]:
    """`revoke_sessions(session_ids=...)` on the async pool: the sessions revoked and journalled
    in one statement (committed), then Redis told."""
    entries = await queries.arevoke([str(sid) for sid in session_ids], timezone.now(), reason)
    await apublish(entries)
    return [sid for _, sid in entries]


def _reload_on(client: Any) -> int:
    if not client.set(LOADING_KEY, "1", nx=True, ex=30):
        return 0  # another process is reloading
    # Read before the rows: a revocation committed meanwhile has a higher number and is
    # published by its own process.
    seq = Revocation.objects.aggregate(top=Max("id"))["top"] or 0
    cutoff = timezone.now() - timedelta(seconds=key_ttl())
    count = 0
    pipe = client.pipeline(transaction=False)
    for sid in Revocation.objects.filter(revoked_at__gt=cutoff).values_list("session_id", flat=True).iterator():
        pipe.set(_key(str(sid)), "1", ex=key_ttl())
        count += 1
        if count % 1000 == 0:
            pipe.execute()
    pipe.set(READY_KEY, str(seq), ex=READY_TTL)
    pipe.delete(LOADING_KEY)
    pipe.execute()
    _note_known(seq)
    return count


def reload() -> int:
    """Copy every recent revocation from the journal into Redis, then set the marker."""
    return stores.call(_reload_on, lambda: 0, what="revocation")


def purge_journal() -> int:
    """Delete journal rows older than twice a revocation key's lifetime: every access token
    they covered has expired. The newest row always stays (it carries the sequence)."""
    top = Revocation.objects.aggregate(top=Max("id"))["top"]
    cutoff = timezone.now() - timedelta(seconds=2 * key_ttl())
    deleted, _ = Revocation.objects.filter(revoked_at__lt=cutoff).exclude(pk=top).delete()
    return deleted


# --- Reading ---

def _db_is_revoked(sid: str) -> bool:
    try:
        uuid.UUID(sid)
    except ValueError:
        return True
    return not Session.objects.filter(pk=sid, revoked_at__isnull=True).exists()


def _db_answer_and_refill(sid: str) -> bool:
    # One thread hop for both: the answer from the database, then the set restored.
    revoked = _db_is_revoked(sid)
    reload()
    return revoked


async def acheck(sid: str, also_get: str | None = None) -> tuple[bool, bytes | None]:
    """Whether session `sid` is revoked (or does not exist), plus the value of Redis key
    `also_get` fetched in the same round trip (None when absent or when Redis is not used)."""
    keys = [READY_KEY, _key(sid)] + ([also_get] if also_get else [])
    values = await stores.amget(keys, what="revocation")
    if values is None:
        return await sync_to_async(_db_is_revoked)(sid), None
    extra = values[2] if also_get else None
    marker = _marker_value(values[0])
    if marker is not None and marker >= _state["known"]:
        return values[1] is not None, extra
    return await sync_to_async(_db_answer_and_refill)(sid), extra


# --- The watcher (one thread per server process) ---

def poll() -> None:
    """One round of the watcher: learn the database's highest sequence, publish revocations
    left behind."""
    _note_known(Revocation.objects.aggregate(top=Max("id"))["top"] or 0)
    if not stores.available():
        return
    cutoff = timezone.now() - timedelta(seconds=LEFT_BEHIND_AFTER)
    left = [(seq, str(sid)) for seq, sid in Revocation.objects.filter(published=False, revoked_at__lt=cutoff)
            .order_by("id").values_list("pk", "session_id")[:1000]]
    if left:
        logger.info("publishing %d revocation(s) left unpublished", len(left))
        publish(left)


def _watch() -> None:
    last_policy_check = 0.0
    failing = False
    while True:
        time.sleep(settings.REVOCATION_POLL_SECONDS)
        try:
            if time.monotonic() - last_policy_check >= settings.REDIS_POLICY_CHECK_SECONDS:
                stores.check_policy()
                last_policy_check = time.monotonic()
            poll()
            failing = False
        except Exception as exc:  # noqa: BLE001 - the watcher must outlive any outage
            if not failing:  # once per outage, not once a second
                logger.warning("revocation watcher cannot reach the database: %s", type(exc).__name__)
            failing = True
        finally:
            connections.close_all()


def start_watcher() -> None:
    """Start this process's watcher thread (idempotent); read Redis's eviction policy first."""
    if _watcher:
        return
    stores.check_policy()
    thread = threading.Thread(target=_watch, name="revocation-watcher", daemon=True)
    _watcher.append(thread)
    thread.start()


if hasattr(os, "register_at_fork"):
    # A forked child has no threads: it starts its own watcher if it serves requests.
    os.register_at_fork(after_in_child=_watcher.clear)
