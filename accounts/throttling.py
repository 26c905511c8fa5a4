"""Failed-login throttling: per account+IP, per account, per IP; signups per IP.

Counters are fixed windows in the shared store: Redis when available, else the database (so
every worker process and machine sees the same counts). An attempt *acquires* a slot before any
hashing: the check and the count are one atomic step, so a burst of parallel guesses cannot
overshoot a limit, and a refused attempt costs no hash and reveals nothing about the password.
An attempt that turns out not to be a failure (a success, an overloaded pool) is *released*.

Callers pass canonical emails (accounts.emails.canonical_email): every form of one address
shares one set of counters.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.exceptions import TooManyAttempts
from accounts.models import ThrottleCounter
from authsite.kit import stores

logger = logging.getLogger(__name__)
PREFIX = "thr:"
# Redis hash: counter key -> who it counts (JSON), written when a counter reaches its limit, so
# staff can see who is locked out although the counter keys are digests (accounts.lockouts).
LOCKED_INDEX = f"{PREFIX}locked"
ACCOUNT_IP, ACCOUNT, IP, SIGNUP, KNOWN_CLIENT = "account_ip", "account", "ip", "signup", "known_client"


@dataclass(frozen=True)
class Limit:
    key: str
    count: int
    seconds: int
    # Who this counter counts, in clear ({"kind", "email", "ip"} as JSON): stored only once
    # the counter reaches its limit.
    label: str = ""


def label(kind: str, email: str = "", ip: str = "") -> str:
    return json.dumps({"kind": kind, "email": email, "ip": client_block(ip) if ip else ""})


def digest(text: str) -> str:
    """The key part standing for `text`: keys never hold an email or address in clear."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]



def account_ip_key(email: str, ip: str) -> str:
    # Starts with the account's prefix, so an unlock can find every IP of one account.
    return f"{account_ip_prefix(email)}{digest(client_block(ip))}"


def account_ip_prefix(email: str) -> str:
    return f"{PREFIX}ai:{digest(email)}:"


def account_key(email: str) -> str:
    return f"{PREFIX}a:{digest(email)}"


def client_block(ip: str) -> str:
    """The unit an address is counted in: an IPv4 address, or the /64 of an IPv6 one (a
    client usually controls a whole /64 and could rotate through it)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def ip_key(ip: str) -> str:
    return f"{PREFIX}i:{digest(client_block(ip))}"


def signup_key(ip: str) -> str:
    return f"{PREFIX}s:{digest(client_block(ip))}"


def known_client_key(client_id: str) -> str:
    return f"{PREFIX}d:{digest(client_id)}"


def limits_for(email: str, ip: str, known_client: str | None = None) -> list[Limit]:
    """The enabled limits that apply to a login attempt on canonical `email` from `ip`.

    A known client (accounts.known_clients: it logged in to this account before) is counted on
    its own, with the account+address numbers, instead of against the account: others' failures
    do not lock it out. The per-address limit applies to everyone."""
    if known_client is not None:
        candidates = [
            (known_client_key(known_client), settings.THROTTLE_ACCOUNT_IP, label(KNOWN_CLIENT, email, ip)),
            (ip_key(ip), settings.THROTTLE_IP, label(IP, ip=ip)),
        ]
    else:
        candidates = [
            (account_ip_key(email, ip), settings.THROTTLE_ACCOUNT_IP, label(ACCOUNT_IP, email, ip)),
            (account_key(email), settings.THROTTLE_ACCOUNT, label(ACCOUNT, email)),
            (ip_key(ip), settings.THROTTLE_IP, label(IP, ip=ip)),
        ]
    return [Limit(key, count, seconds, who) for key, (count, seconds), who in candidates if count > 0]


def signup_limits(ip: str) -> list[Limit]:
    """Signups are counted per IP with the THROTTLE_IP limit (every attempt, not only failures)."""
    count, seconds = settings.THROTTLE_IP
    return [Limit(signup_key(ip), count, seconds, label(SIGNUP, ip=ip))] if count > 0 else []


# --- Redis store: each step is one Lua script, atomic on the server ---

# KEYS: counters, then LOCKED_INDEX; ARGV: count, seconds, label per counter. Returns the
# milliseconds until the first full counter frees (> 0, nothing counted), or minus one minus the
# bit set of the counters this attempt filled up (<= 0: slot taken, all counters +1). A counter
# it fills files its label in the index, in the same call.
_ACQUIRE = """
local wait = 0
local n = #KEYS - 1
local index = KEYS[#KEYS]
for i = 1, n do
  local key = KEYS[i]
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[3 * i - 2]) then
    local pttl = redis.call('PTTL', key)
    if pttl < 0 then
      pttl = tonumber(ARGV[3 * i - 1]) * 1000
      redis.call('PEXPIRE', key, pttl)
    end
    if pttl > wait then wait = pttl end
  end
end
if wait > 0 then return wait end
local filled = 0
for i = 1, n do
  local key = KEYS[i]
  if redis.call('INCR', key) == tonumber(ARGV[3 * i - 2]) then
    filled = filled + 2 ^ (i - 1)
    if ARGV[3 * i] ~= '' then
      redis.call('HSET', index, key, ARGV[3 * i])
      if redis.call('TTL', index) < tonumber(ARGV[3 * i - 1]) then redis.call('EXPIRE', index, ARGV[3 * i - 1]) end
    end
  end
  if redis.call('PTTL', key) < 0 then redis.call('EXPIRE', key, ARGV[3 * i - 1]) end
end
return -1 - filled
"""

# KEYS: counters; ARGV[1]: how many of the first KEYS to delete; the rest are decremented,
# never below zero and never re-created once expired.
_RELEASE = """
local forget = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if i <= forget then
    redis.call('DEL', key)
  elseif tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
"""


def _acquire_args(limits: Sequence[Limit]) -> tuple[list[str], list[int | str]]:
    args: list[int | str] = []
    for lim in limits:
        args += [lim.count, lim.seconds, lim.label]
    return [*(lim.key for lim in limits), LOCKED_INDEX], args


def _release_args(limits: Sequence[Limit], forget: Sequence[str]) -> tuple[list[str], list[int]]:
    rest = [lim.key for lim in limits if lim.key not in forget]
    return [*forget, *rest], [len(forget)]


def _seconds(milliseconds: int) -> int:
    return max(1, math.ceil(milliseconds / 1000))


# --- Database store (Redis unset or down) ---

class _Full(Exception):
    """Rolls back the counting transaction: some limit is already reached."""


def _db_acquire(limits: Sequence[Limit]) -> tuple[int, list[Limit]]:
    """Count one attempt on every limit, or nothing: (0, the limits this attempt filled up) or
    (the seconds until a slot frees, [])."""
    now = timezone.now()
    qn = connection.ops.quote_name
    table, key, count, expires = (qn(ThrottleCounter._meta.db_table), qn("key"), qn("count"),
                                  qn("expires_at"))
    # One upsert per counter; each row stays locked until the transaction ends, so concurrent
    # attempts on one counter are serialised. A window that has ended starts again at 1.
    sql = (
        f"INSERT INTO {table} ({key}, {count}, {expires}) VALUES (%s, 1, %s) "
        f"ON CONFLICT ({key}) DO UPDATE SET "
        f"{count} = CASE WHEN {table}.{expires} <= %s THEN 1 ELSE {table}.{count} + 1 END, "
        f"{expires} = CASE WHEN {table}.{expires} <= %s THEN excluded.{expires} ELSE {table}.{expires} END"
    )
    adapt = connection.ops.adapt_datetimefield_value
    ordered = sorted(limits, key=lambda lim: lim.key)  # one lock order: no deadlocks
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                for lim in ordered:
                    cursor.execute(sql, [lim.key, adapt(now + timedelta(seconds=lim.seconds)),
                                         adapt(now), adapt(now)])
            rows = {row.key: row for row in ThrottleCounter.objects.filter(key__in=[lim.key for lim in limits])}
            wait = 0.0
            for lim in limits:
                row = rows[lim.key]
                if row.count > lim.count:
                    wait = max(wait, (row.expires_at - now).total_seconds())
            if wait:
                raise _Full(wait)
            for lim in limits:  # reached the limit now: say whom it locks out (see LOCKED_INDEX)
                if rows[lim.key].count == lim.count and lim.label and rows[lim.key].label != lim.label:
                    ThrottleCounter.objects.filter(key=lim.key).update(label=lim.label)
    except _Full as full:
        return _seconds(int(full.args[0] * 1000)), []
    return 0, [lim for lim in limits if rows[lim.key].count == lim.count]


def _db_release(limits: Sequence[Limit], forget: Sequence[str]) -> None:
    rest = [lim.key for lim in limits if lim.key not in forget]
    with transaction.atomic():
        if forget:
            ThrottleCounter.objects.filter(key__in=forget).delete()
        if rest:
            ThrottleCounter.objects.filter(key__in=rest, count__gt=0, expires_at__gt=timezone.now()).update(
                count=F("count") - 1)


def _db_clear(keys: Sequence[str], prefixes: Sequence[str] = ()) -> int:
    deleted, _ = ThrottleCounter.objects.filter(key__in=keys).delete()
    for prefix in prefixes:
        more, _ = ThrottleCounter.objects.filter(key__startswith=prefix).delete()
        deleted += more
    return deleted


# --- Public API: async for the API views, sync twins for the admin and commands. Each twin
# runs the same script or the same database function; only the way of waiting differs. ---

def _raise_if_full(outcome: tuple[int, list[Limit]]) -> list[Limit]:
    wait, filled = outcome
    if wait:
        raise TooManyAttempts(wait)
    return filled


def _acquired(limits: Sequence[Limit], reply: int) -> tuple[int, list[Limit]]:
    if reply > 0:
        return _seconds(reply), []
    bits = -1 - reply
    return 0, [lim for i, lim in enumerate(limits) if bits >> i & 1]


def report_lockouts(filled: Sequence[Limit]) -> None:
    """Log each lockout that a failed attempt started (the counter it filled; no email, no
    address: keys are digests)."""
    kinds = {f"{PREFIX}ai:": "account_ip", f"{PREFIX}a:": "account", f"{PREFIX}i:": "ip", f"{PREFIX}s:": "signup",
             f"{PREFIX}d:": "known_client"}
    for lim in filled:
        kind = next((name for prefix, name in kinds.items() if lim.key.startswith(prefix)), "other")
        logger.warning("security: lockout started", extra={"event": "lockout_started", "counter": kind,
                                                            "key": lim.key, "seconds": lim.seconds})


def _acquire_on(client: object, limits: Sequence[Limit]) -> object:
    keys, args = _acquire_args(limits)
    return client.register_script(_ACQUIRE)(keys=keys, args=args)  # type: ignore[attr-defined]


def _release_on(client: object, limits: Sequence[Limit], forget: Sequence[str]) -> object:
    keys, args = _release_args(limits, forget)
    return client.register_script(_RELEASE)(keys=keys, args=args)  # type: ignore[attr-defined]


async def aacquire(limits: Sequence[Limit]) -> list[Limit]:
    """Count this attempt against every limit, or raise TooManyAttempts (counting nothing)
    when one is already reached. Returns the limits this attempt filled up (a failure now
    starts a lockout on them: `report_lockouts`)."""
    if not limits:
        return []

    async def on_redis(client: object) -> tuple[int, list[Limit]]:
        return _acquired(limits, int(await _acquire_on(client, limits)))  # type: ignore[misc]

    return _raise_if_full(await stores.acall(on_redis, sync_to_async(lambda: _db_acquire(limits)),
                                             what="throttling"))


def acquire(limits: Sequence[Limit]) -> list[Limit]:
    """Synchronous twin of `aacquire`."""
    if not limits:
        return []
    return _raise_if_full(stores.call(lambda client: _acquired(limits, int(_acquire_on(client, limits))),  # type: ignore[call-overload]
                                      lambda: _db_acquire(limits), what="throttling"))


async def arelease(limits: Sequence[Limit], forget: Sequence[str] = ()) -> None:
    """Un-count an acquired attempt that was not a failure; delete the `forget` counters."""
    if limits or forget:
        await stores.acall(lambda client: _release_on(client, limits, forget),  # type: ignore[arg-type,return-value]
                           sync_to_async(lambda: _db_release(limits, forget)), what="throttling")


def release(limits: Sequence[Limit], forget: Sequence[str] = ()) -> None:
    """Synchronous twin of `arelease`."""
    if limits or forget:
        stores.call(lambda client: _release_on(client, limits, forget), lambda: _db_release(limits, forget),
                    what="throttling")


def _scan_and_delete(client: object, keys: Sequence[str], prefixes: Sequence[str]) -> int:
    found = list(keys)
    for prefix in prefixes:
        found += [k.decode() for k in client.scan_iter(match=f"{prefix}*", count=500)]  # type: ignore[attr-defined]
    if not found:
        return 0
    pipe = client.pipeline(transaction=True)  # type: ignore[attr-defined]
    pipe.delete(*found)
    pipe.hdel(LOCKED_INDEX, *found)
    return int(pipe.execute()[0])


def clear(keys: Sequence[str], prefixes: Iterable[str] = ()) -> int:
    """Delete counters by key, and every counter whose key starts with one of `prefixes`, in
    Redis and in the database (counts written there during a Redis outage, too). Returns how
    many counters existed."""
    prefixes = list(prefixes)
    removed = stores.call(lambda client: _scan_and_delete(client, keys, prefixes), lambda: 0, what="throttling")
    return removed + _db_clear(keys, prefixes)


def unlock(email: str | None, ip: str | None = None) -> int:
    """Clear failed-login counters. With canonical `email`: the account's own, and its
    account+IP counter for every IP. With `ip`: that address's login and signup counters (and
    the account's counter for that address). Returns how many counters existed."""
    keys: list[str] = []
    prefixes: list[str] = []
    if email is not None:
        keys.append(account_key(email))
        prefixes.append(account_ip_prefix(email))
    if ip is not None:
        keys += [ip_key(ip), signup_key(ip)]
        if email is not None:
            keys.append(account_ip_key(email, ip))
    return clear(keys, prefixes)


def purge_expired() -> int:
    """Delete database counters whose window has ended; returns how many."""
    deleted, _ = ThrottleCounter.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
