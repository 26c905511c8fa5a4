"""Users by password-hash status: the `authsite_users{hash_status}` gauge, kept fresh off the hot path.

The status of each stored hash is decided by accounts.passwords.hash_status, the same code that
decides upgrades on login.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from django.conf import settings
from django.db import connection

from accounts import passwords
from accounts.metrics import USERS_BY_HASH_STATUS
from accounts.models import User

logger = logging.getLogger(__name__)
_refresh_lock = threading.Lock()
_last_refresh = [0.0]


def users_by_hash_status() -> dict[str, int]:
    """How many users hold a hash of each status (every status present, zero included)."""
    counts: Counter[str] = Counter({status: 0 for status in passwords.HASH_STATUSES})
    for encoded in User.objects.values_list("password", flat=True).iterator(chunk_size=5000):
        counts[passwords.hash_status(encoded)] += 1
    return dict(counts)


def refresh_users_gauge() -> dict[str, int]:
    """Recount users by hash status and publish the counts on the gauge."""
    counts = users_by_hash_status()
    for status, n in counts.items():
        USERS_BY_HASH_STATUS.labels(status).set(n)
    return counts


def _refresh_in_background() -> None:
    try:
        refresh_users_gauge()
    except Exception:  # noqa: BLE001 - a failed refresh keeps the previous values
        logger.warning("users-by-hash-status refresh failed", exc_info=True)
    finally:
        connection.close()
        _refresh_lock.release()


def maybe_refresh_users_gauge() -> None:
    """Scrape hook: start a background recount if the gauge is older than
    METRICS_REFRESH_SECONDS. At most one recount runs per process; the caller never waits."""
    now = time.monotonic()
    if _last_refresh[0] and now - _last_refresh[0] < settings.METRICS_REFRESH_SECONDS:
        return
    if not _refresh_lock.acquire(blocking=False):
        return
    _last_refresh[0] = now
    threading.Thread(target=_refresh_in_background, name="metrics-refresh", daemon=True).start()


def reset() -> None:
    """Forget when the gauge was last refreshed (the next scrape recounts)."""
    _last_refresh[0] = 0.0
