"""Users per stored hash kind, parameter set and status, as decided by passwords.classify.

The latest inventory is kept in the shared cache: the login failure floor (accounts.timing)
reads which parameter sets are present from it. The `authsite_users{hash_status}` gauge
publishes its totals, kept fresh off the hot path (a scrape starts a background recount).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from accounts import hashformats, jobs, passwords
from accounts.metrics import USERS_BY_HASH_STATUS
from accounts.models import User

logger = logging.getLogger(__name__)
_refresh_lock = threading.Lock()
_last_refresh = [0.0]
CACHE_KEY = "accounts:hash-inventory"
CACHE_SECONDS = 24 * 3600


@dataclass
class Inventory:
    """Counts per (status, kind, parameter set)."""

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def add(self, info: hashformats.HashInfo, n: int = 1) -> None:
        self.counts[(info.status, info.kind, info.params)] += n

    def by_status(self) -> dict[str, int]:
        totals = dict.fromkeys(hashformats.STATUSES, 0)
        for (status, _, _), n in self.counts.items():
            totals[status] += n
        return totals

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def present(self) -> list[tuple[str, str]]:
        """(kind, parameters) of every verifiable hash present (not unusable or beyond the limits)."""
        return sorted({(kind, params) for status, kind, params in self.counts
                       if status not in (hashformats.UNUSABLE, hashformats.BEYOND_LIMITS)})

    def rows(self) -> list[tuple[str, str, str, int]]:
        order = {status: i for i, status in enumerate(hashformats.STATUSES)}
        return sorted(((s, k, p, n) for (s, k, p), n in self.counts.items()), key=lambda r: (order[r[0]], r[1], r[2]))

    def to_json(self) -> list[list[object]]:
        return [[s, k, p, n] for (s, k, p), n in self.counts.items()]

    @classmethod
    def from_json(cls, rows: list[list[object]]) -> "Inventory":
        return cls(Counter({(str(s), str(k), str(p)): int(n) for s, k, p, n in rows}))  # type: ignore[call-overload]


def take(chunk: int = 5000) -> Inventory:
    """Classify every stored hash (streamed), remember the result in the cache, return it."""
    inventory = Inventory()
    for encoded in User.objects.values_list("password", flat=True).order_by().iterator(chunk_size=chunk):
        inventory.add(passwords.classify(encoded))
    try:
        cache.set(CACHE_KEY, inventory.to_json(), CACHE_SECONDS)
    except Exception:  # noqa: BLE001 - the shared cache is down: the inventory is still right
        logger.warning("could not store the hash inventory in the cache")
    return inventory


def latest() -> Inventory | None:
    """The inventory last taken by any process, if the cache still has it."""
    try:
        rows = cache.get(CACHE_KEY)
    except Exception:  # noqa: BLE001 - the shared cache is down: no inventory known right now
        return None
    return Inventory.from_json(rows) if rows is not None else None


def users_by_hash_status() -> dict[str, int]:
    """How many users hold a hash of each status (every status present, zero included)."""
    return take().by_status()


def user_ids_with_hash_status(status: str) -> list[int]:
    """Ids of the users whose stored hash has this status (one pass over the table, like the
    counts: the status is decided by the code that decides upgrades, not by SQL)."""
    return [pk for pk, encoded in User.objects.values_list("pk", "password").iterator(chunk_size=5000)
            if passwords.hash_status(encoded) == status]


def refresh_users_gauge() -> dict[str, int]:
    """Recount users by hash status and publish the counts on the gauge."""
    counts = users_by_hash_status()
    for status, n in counts.items():
        USERS_BY_HASH_STATUS.labels(status).set(n)
    return counts


def _refresh_in_background() -> None:
    try:
        refresh_users_gauge()
        jobs.report_progress()
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
