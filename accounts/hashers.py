"""Password hasher classes registered in settings.PASSWORD_HASHERS.

Only accounts.passwords calls into hashing; this module only declares the hashers.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    """Django's Argon2 hasher (Argon2id, encoded as ``argon2$argon2id$…``) with tuned costs.

    It keeps the algorithm name ``argon2`` so hashes written by Django's stock hasher are
    recognised, and `must_update` flags any hash whose parameters differ from these.
    """

    @property  # type: ignore[override]
    def time_cost(self) -> int:
        return settings.ARGON2_TIME_COST

    @property  # type: ignore[override]
    def memory_cost(self) -> int:
        return settings.ARGON2_MEMORY_COST

    @property  # type: ignore[override]
    def parallelism(self) -> int:
        return settings.ARGON2_PARALLELISM
