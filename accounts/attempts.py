"""The login-attempt audit log, written off the request path.

A login only appends a small tuple to this process's buffer (no I/O, no thread hop). A daemon
thread writes the buffer with one bulk insert every LOGIN_ATTEMPT_FLUSH_SECONDS, or sooner when
it holds LOGIN_ATTEMPT_BATCH rows, and once more when the process exits. While the database is
unreachable the buffer keeps at most LOGIN_ATTEMPT_BUFFER_LIMIT rows: the oldest go first, so an
outage cannot grow the process without bound.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from accounts.exceptions import InvalidCredentials, Overloaded, TooManyAttempts
from accounts.models import LoginAttempt

logger = logging.getLogger(__name__)

Row = tuple[datetime, str, "int | None", str, str, str]  # at, email, user id, ip, outcome, source


class _Buffer:
    def __init__(self) -> None:
        self.rows: deque[Row] = deque()
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.writing = threading.Lock()  # one flush at a time: rows are written in order
        self.thread: threading.Thread | None = None
        self.dropped = 0


_buffer = _Buffer()


def record(email: str, ip: str, outcome: str, source: str, user_id: int | None = None) -> None:
    """Queue one attempt for the audit log. Never blocks on I/O."""
    row: Row = (timezone.now(), email[:254], user_id, ip[:64], outcome, source)
    with _buffer.lock:
        if len(_buffer.rows) >= settings.LOGIN_ATTEMPT_BUFFER_LIMIT:
            _buffer.rows.popleft()
            _buffer.dropped += 1
        _buffer.rows.append(row)
        full = len(_buffer.rows) >= settings.LOGIN_ATTEMPT_BATCH
        if _buffer.thread is None or not _buffer.thread.is_alive():
            _buffer.thread = threading.Thread(target=_writer, name="login-attempts", daemon=True)
            _buffer.thread.start()
    if full:
        _buffer.wake.set()


def outcome_of(exc: BaseException) -> str | None:
    """The audit outcome of a login that raised `exc`; None for errors that are not an outcome
    of the attempt (a database outage, a client that went away)."""
    if isinstance(exc, InvalidCredentials):
        return LoginAttempt.BAD_CREDENTIALS
    if isinstance(exc, TooManyAttempts):
        return LoginAttempt.THROTTLED
    if isinstance(exc, Overloaded):
        return LoginAttempt.OVERLOADED
    return None


def flush() -> int:
    """Write every queued attempt now; returns how many rows were written. On a database error
    the rows go back to the front of the buffer for the next flush."""
    with _buffer.writing:
        with _buffer.lock:
            rows = list(_buffer.rows)
            _buffer.rows.clear()
        if not rows:
            return 0
        try:
            LoginAttempt.objects.bulk_create(
                [LoginAttempt(at=at, email=email, user_id=user_id, ip=ip, outcome=outcome, source=source)
                 for at, email, user_id, ip, outcome, source in rows],
                batch_size=settings.LOGIN_ATTEMPT_BATCH)
        except DatabaseError:
            with _buffer.lock:
                room = max(0, settings.LOGIN_ATTEMPT_BUFFER_LIMIT - len(_buffer.rows))
                keep = rows[-room:] if room else []
                _buffer.dropped += len(rows) - len(keep)
                _buffer.rows.extendleft(reversed(keep))
            logger.warning("login attempts not written; kept for the next flush", exc_info=True)
            return 0
        return len(rows)


def discard() -> None:
    """Forget every queued attempt without writing it (tests start from an empty buffer)."""
    with _buffer.lock:
        _buffer.rows.clear()


def pending() -> int:
    """Attempts queued and not yet written."""
    with _buffer.lock:
        return len(_buffer.rows)


def _writer() -> None:
    while True:
        _buffer.wake.wait(settings.LOGIN_ATTEMPT_FLUSH_SECONDS)
        _buffer.wake.clear()
        try:
            flush()
        except Exception:  # noqa: BLE001 - the writer must outlive any one bad batch
            logger.exception("login attempt writer failed")
        finally:
            close_old_connections()


def _flush_at_exit() -> None:
    try:
        flush()
    except Exception:  # noqa: BLE001 - the process is ending; nothing else to do with them
        logger.warning("login attempts lost at exit", exc_info=True)


atexit.register(_flush_at_exit)


def failures_since(when: datetime) -> dict[str, int]:
    """Failed attempts since `when` ("failed": every outcome but success) and, of those, the
    throttled ones and the distinct emails they were refused for ("locked_out")."""
    rows = LoginAttempt.objects.filter(at__gte=when).exclude(outcome=LoginAttempt.SUCCESS)
    throttled = rows.filter(outcome=LoginAttempt.THROTTLED)
    return {"failed": rows.count(), "throttled": throttled.count(),
            "locked_out": throttled.values("email").distinct().count()}


def purge_expired() -> int:
    """Delete attempts older than LOGIN_ATTEMPT_RETENTION_DAYS; returns how many."""
    horizon = timezone.now() - timedelta(days=settings.LOGIN_ATTEMPT_RETENTION_DAYS)
    deleted, _ = LoginAttempt.objects.filter(at__lt=horizon).delete()
    return deleted
