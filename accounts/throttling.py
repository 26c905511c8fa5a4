"""Failed-login throttling (CONTRACT §1): per account+IP, per account, per IP.

Counters are fixed windows in the shared store: Redis when available, else the database
(so every worker process and machine sees the same counts). A throttled attempt is refused
before any hashing, and reveals nothing about the password.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.exceptions import TooManyAttempts
from accounts.models import ThrottleCounter
from authsite import stores

logger = logging.getLogger(__name__)
PREFIX = "thr:"


@dataclass(frozen=True)
class Limit:
    key: str
    count: int
    seconds: int


def _digest(text: str) -> str:
    # Keys never hold an email or address in clear.
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def account_ip_key(email: str, ip: str) -> str:
    return f"{PREFIX}ai:{_digest(email)}:{_digest(ip)}"


def account_key(email: str) -> str:
    return f"{PREFIX}a:{_digest(email)}"


def ip_key(ip: str) -> str:
    return f"{PREFIX}i:{_digest(ip)}"


def limits_for(email: str, ip: str) -> list[Limit]:
    """The enabled limits that apply to a login attempt on canonical `email` from `ip`."""
    candidates = [
        (account_ip_key(email, ip), settings.THROTTLE_ACCOUNT_IP),
        (account_key(email), settings.THROTTLE_ACCOUNT),
        (ip_key(ip), settings.THROTTLE_IP),
    ]
    return [Limit(key, count, seconds) for key, (count, seconds) in candidates if count > 0]


def signup_limits(ip: str) -> list[Limit]:
    """Signups are counted per IP with the THROTTLE_IP limit (all attempts, not only failures)."""
    count, seconds = settings.THROTTLE_IP
    return [Limit(f"{PREFIX}s:{_digest(ip)}", count, seconds)] if count > 0 else []


# --- Database store ---

def _db_check(limits: list[Limit]) -> int:
    now = timezone.now()
    rows = ThrottleCounter.objects.filter(key__in=[lim.key for lim in limits], expires_at__gt=now)
    counts = {row.key: row for row in rows}
    wait = 0
    for lim in limits:
        row = counts.get(lim.key)
        if row is not None and row.count >= lim.count:
            wait = max(wait, int((row.expires_at - now).total_seconds()) + 1)
    return wait


def _db_hit(limits: list[Limit]) -> None:
    now = timezone.now()
    table = connection.ops.quote_name(ThrottleCounter._meta.db_table)
    sql = (
        f"INSERT INTO {table} (key, count, expires_at) VALUES (%s, 1, %s) "
        f"ON CONFLICT (key) DO UPDATE SET "
        f"count = CASE WHEN {table}.expires_at <= %s THEN 1 ELSE {table}.count + 1 END, "
        f"expires_at = CASE WHEN {table}.expires_at <= %s THEN excluded.expires_at ELSE {table}.expires_at END"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        for lim in limits:
            cursor.execute(sql, [lim.key, now + timedelta(seconds=lim.seconds), now, now])


def _db_clear(keys: list[str]) -> None:
    ThrottleCounter.objects.filter(key__in=keys).delete()


# --- Public API ---

async def acheck(limits: list[Limit]) -> None:
    """Raise TooManyAttempts if any limit is already reached."""
    if not limits:
        return
    client = stores.aclient()
    if client is not None:
        try:
            async with client.pipeline(transaction=False) as pipe:
                for lim in limits:
                    pipe.get(lim.key)
                    pipe.ttl(lim.key)
                replies = await pipe.execute()
            wait = 0
            for i, lim in enumerate(limits):
                raw, ttl = replies[2 * i], replies[2 * i + 1]
                if raw is not None and int(raw) >= lim.count:
                    wait = max(wait, ttl if ttl and ttl > 0 else lim.seconds)
            if wait:
                raise TooManyAttempts(wait)
            return
        except stores.RedisError:
            stores.mark_down()
            logger.warning("redis unavailable for throttling; using the database")
    wait = await sync_to_async(_db_check)(limits)
    if wait:
        raise TooManyAttempts(wait)


async def arecord_failure(limits: list[Limit]) -> None:
    """Count one failed attempt against every limit."""
    if not limits:
        return
    client = stores.aclient()
    if client is not None:
        try:
            async with client.pipeline(transaction=False) as pipe:
                for lim in limits:
                    pipe.incr(lim.key)
                    pipe.expire(lim.key, lim.seconds, nx=True)
                await pipe.execute()
            return
        except stores.RedisError:
            stores.mark_down()
    await sync_to_async(_db_hit)(limits)


async def aclear(keys: list[str]) -> None:
    """Forget counters (after a successful login, or an admin's unlock)."""
    if not keys:
        return
    client = stores.aclient()
    if client is not None:
        try:
            await client.delete(*keys)
            # Counts written to the database during a Redis outage are not consulted while
            # Redis is up, and expire on their own.
            return
        except stores.RedisError:
            stores.mark_down()
    await sync_to_async(_db_clear)(keys)


def clear(keys: list[str]) -> None:
    """Synchronous twin of `aclear` for commands and the admin."""
    client = stores.client()
    if client is not None and keys:
        try:
            client.delete(*keys)
        except stores.RedisError:
            stores.mark_down()
    _db_clear(keys)


