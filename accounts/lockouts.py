"""Who is locked out right now, for staff: every throttle counter at its limit, with whom it
counts (accounts.throttling files that next to the counter when the limit is reached).

Read from Redis when it is configured, and from the database counters (written when Redis is
unset or was down), merged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from accounts import throttling
from accounts.models import ThrottleCounter
from authsite.kit import stores

KINDS = {
    f"{throttling.PREFIX}ai:": (throttling.ACCOUNT_IP, "THROTTLE_ACCOUNT_IP"),
    f"{throttling.PREFIX}a:": (throttling.ACCOUNT, "THROTTLE_ACCOUNT"),
    f"{throttling.PREFIX}i:": (throttling.IP, "THROTTLE_IP"),
    f"{throttling.PREFIX}s:": (throttling.SIGNUP, "THROTTLE_IP"),
    f"{throttling.PREFIX}d:": (throttling.KNOWN_CLIENT, "THROTTLE_ACCOUNT_IP"),
}
DESCRIPTIONS = {
    throttling.ACCOUNT_IP: "account from one address",
    throttling.ACCOUNT: "account from every address",
    throttling.IP: "logins from an address",
    throttling.SIGNUP: "signups from an address",
    throttling.KNOWN_CLIENT: "account from one known client",
}


@dataclass(frozen=True)
class Lockout:
    key: str
    kind: str
    email: str
    ip: str
    count: int
    limit: int
    seconds_left: int
    store: str  # "redis" or "database"

    @property
    def description(self) -> str:
        return DESCRIPTIONS.get(self.kind, self.kind)

    @property
    def until(self) -> datetime:
        return timezone.now() + timedelta(seconds=self.seconds_left)


def _kind_and_limit(key: str) -> tuple[str, int] | None:
    for prefix, (kind, setting) in KINDS.items():
        if key.startswith(prefix):
            return kind, getattr(settings, setting)[0]
    return None


def _who(raw: str | bytes | None) -> dict[str, str]:
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def describe(label: str) -> str:
    """A counter's label for people: 'email from ip', 'email', 'ip' or '–'."""
    who = _who(label)
    email, ip = who.get("email", ""), who.get("ip", "")
    return f"{email} from {ip}" if email and ip else (email or ip or "–")


def _from_redis(client: object) -> list[Lockout]:
    index = {k.decode(): v for k, v in client.hgetall(throttling.LOCKED_INDEX).items()}  # type: ignore[attr-defined]
    if not index:
        return []
    keys = sorted(index)
    pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
    for key in keys:
        pipe.get(key)
        pipe.pttl(key)
    values = pipe.execute()
    found, stale = [], []
    for i, key in enumerate(keys):
        count, pttl = int(values[2 * i] or 0), int(values[2 * i + 1])
        kind_limit = _kind_and_limit(key)
        if kind_limit is None or pttl <= 0 or count < kind_limit[1]:
            stale.append(key)  # expired, unlocked, or released since: drop from the index
            continue
        who = _who(index[key])
        found.append(Lockout(key, kind_limit[0], who.get("email", ""), who.get("ip", ""), count, kind_limit[1],
                             max(1, -(-pttl // 1000)), "redis"))
    if stale:
        client.hdel(throttling.LOCKED_INDEX, *stale)  # type: ignore[attr-defined]
    return found


def _from_database() -> list[Lockout]:
    now = timezone.now()
    found = []
    for row in ThrottleCounter.objects.filter(expires_at__gt=now).order_by("expires_at"):
        kind_limit = _kind_and_limit(row.key)
        if kind_limit is None or row.count < kind_limit[1]:
            continue
        who = _who(row.label)
        found.append(Lockout(row.key, kind_limit[0], who.get("email", ""), who.get("ip", ""), row.count,
                             kind_limit[1], max(1, int((row.expires_at - now).total_seconds())), "database"))
    return found


def current() -> list[Lockout]:
    """Every counter at its limit now (Redis first, then the database), longest lock first."""
    found = stores.call(_from_redis, list, what="throttling") + _from_database()
    return sorted(found, key=lambda lock: -lock.seconds_left)


def unlock(keys: list[str]) -> int:
    """Clear the given counters (in Redis and the database); returns how many existed."""
    keys = [key for key in keys if _kind_and_limit(key) is not None]
    return throttling.clear(keys) if keys else 0
