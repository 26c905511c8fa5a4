"""A spy on the real Argon2 hasher: counts Argon2 computations and the parameters they used.

Used to prove that every failure path costs the same hashing work. Nothing is
faked: each call runs the real hasher.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.conf import settings

from accounts import passwords
from accounts.hashers import Argon2idHasher


@dataclass
class Argon2Spy:
    """Every Argon2 computation since the spy started: (operation, at current parameters?, thread)."""

    calls: list[tuple[str, bool, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, current: bool) -> None:
        with self._lock:
            self.calls.append((operation, current, threading.current_thread().name))

    @property
    def current(self) -> int:
        """Argon2 computations (hash or verify) at the configured parameters."""
        return sum(1 for _, current, _ in self.calls if current)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


def _is_current(hasher: Argon2idHasher, encoded: str) -> bool:
    params = hasher.decode(encoded)
    return (params["time_cost"], params["memory_cost"], params["parallelism"]) == (
        settings.ARGON2_TIME_COST, settings.ARGON2_MEMORY_COST, settings.ARGON2_PARALLELISM)


@pytest.fixture
def argon2_spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Argon2Spy]:
    passwords.dummy_verify("warm up: the dummy hash is made once per process")
    spy = Argon2Spy()
    real_verify, real_encode = Argon2idHasher.verify, Argon2idHasher.encode

    def verify(self: Argon2idHasher, password: str, encoded: str) -> bool:
        spy.record("verify", _is_current(self, encoded))
        return real_verify(self, password, encoded)

    def encode(self: Argon2idHasher, password: str, salt: str) -> str:
        spy.record("encode", True)
        return real_encode(self, password, salt)

    monkeypatch.setattr(Argon2idHasher, "verify", verify)
    monkeypatch.setattr(Argon2idHasher, "encode", encode)
    yield spy
