"""Verified-token cache: skip signature math for a token this process has already verified.

Entries are keyed by a SHA-256 digest of the *whole* token string, so a hit is bound to the
exact header, payload and signature that were verified: change one byte and it is a miss,
verified from scratch (and failing). An entry never outlives the token's `exp`; revocation is
checked on every request outside this cache, so the cache can never outlive a revocation.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.conf import settings


class VerifiedTokenCache:
    """A bounded in-process map digest -> verified claims (FIFO eviction)."""

    def __init__(self, max_entries: int | None = None):
        self._max_entries = max_entries
        self._entries: dict[bytes, tuple[float, dict[str, Any]]] = {}

    @property
    def max_entries(self) -> int:
        """The bound given, or settings.VERIFIED_TOKEN_CACHE_SIZE read now."""
        return settings.VERIFIED_TOKEN_CACHE_SIZE if self._max_entries is None else self._max_entries

    @staticmethod
    def key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> dict[str, Any] | None:
        key = self.key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, claims = entry
        if time.time() >= expires:
            self._entries.pop(key, None)
            return None
        return claims

    def put(self, token: str, claims: dict[str, Any]) -> None:
        limit = self.max_entries
        if limit <= 0:
            return
        while len(self._entries) >= limit:
            # Drop the oldest entry (dicts keep insertion order).
            self._entries.pop(next(iter(self._entries)), None)
        self._entries[self.key(token)] = (float(claims["exp"]), claims)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
