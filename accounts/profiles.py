"""The public view of an account (what /me returns), cached in Redis.

/me is the hottest authenticated path: a Redis GET costs far less than an ORM query behind a
thread hop. Entries are deleted whenever the user row changes (model saves through
accounts.receivers, last_login updates in accounts.services) and expire after PROFILE_TTL
seconds, which bounds staleness after a write that bypasses both (a raw queryset update).
Token revocation never depends on this cache: sessions are checked separately on every request.
"""

from __future__ import annotations

from typing import Any

import orjson

from accounts import queries
from accounts.exceptions import AccountUnavailable
from accounts.models import User
from authsite.kit import stores

PREFIX = "acct:u:"
PROFILE_TTL = 30
FIELDS = ("id", "email", "email_verified", "is_staff", "is_active", "date_joined", "last_login")


def cache_key(user_id: int) -> str:
    """The Redis key of a user's cached profile (callers may prefetch it)."""
    return f"{PREFIX}{user_id}"


def profile_of(user: User) -> dict[str, Any]:
    """The account as /me shows it (without `is_active`, which only gates access)."""
    return {"id": user.pk, "email": user.email, "email_verified": user.email_verified, "is_staff": user.is_staff,
            "date_joined": user.date_joined, "last_login": user.last_login}


async def aget_profile(user_id: int, prefetched: bytes | None = None) -> dict[str, Any]:
    """The profile of an active account, or AccountUnavailable (deleted or deactivated).

    `prefetched` is the cached entry if the caller already read `cache_key(user_id)`.
    """
    if prefetched is not None:
        return orjson.loads(prefetched)
    key = cache_key(user_id)
    cached = await stores.acall(lambda client: client.get(key), lambda: None, what="profiles")
    if cached is not None:
        return orjson.loads(cached)
    user = await queries.aactive_user(user_id, only=FIELDS)
    if user is None:
        raise AccountUnavailable()
    profile = profile_of(user)
    await stores.acall(lambda client: client.set(key, orjson.dumps(profile), ex=PROFILE_TTL), lambda: None,
                       what="profiles")
    return profile


def forget(user_id: int) -> None:
    """Drop the cached profile (sync: model signals, admin, commands)."""
    stores.call(lambda client: client.delete(cache_key(user_id)), lambda: None, what="profiles")


async def aforget(user_id: int) -> None:
    """Async twin of `forget`."""
    await stores.acall(lambda client: client.delete(cache_key(user_id)), lambda: None, what="profiles")
