"""A failed login takes the same time whatever hash the account holds (a real uvicorn).

This is the measured ratio the behaviour is defined by: for a user of each stored kind, the
median time of a wrong-password login over the median time of an unknown-email login stays
at or under 1.25. Argon2 runs at its configured cost: the behaviour depends on it.
"""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from accounts import inventory, passwords
from accounts.models import User
from tests.support.legacy import FORMATS

pytestmark = pytest.mark.server

NO_THROTTLE = {"THROTTLE_ACCOUNT_IP": "0/0", "THROTTLE_ACCOUNT": "0/0", "THROTTLE_IP": "0/0"}
PASSWORD = "the right password 123"
ROUNDS = 3


def stored_kinds() -> dict[str, str]:
    """One stored hash per kind and cost class, slow ones included (bcrypt 11, PBKDF2 600,000:
    several times an unknown email's cost)."""
    imported = {name: passwords.importable(FORMATS[name][0](PASSWORD)) for name in (
        "django_md5", "hex_sha1", "django_pbkdf2_sha256", "django_pbkdf2_sha1", "django_argon2id", "bcrypt_2b",
        "django_scrypt")}
    imported["bcrypt_11"] = passwords.importable(passwords.sample_hash("bcrypt", "rounds=11"))
    imported["current_argon2id"] = passwords.hash_password(PASSWORD)
    imported["wrapped_md5"] = passwords.wrap(imported["django_md5"]) or ""
    imported["wrapped_pbkdf2_sha1"] = passwords.wrap(imported["django_pbkdf2_sha1"]) or ""
    return imported


def test_wrong_password_and_unknown_email_take_the_same_time_for_every_kind(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    kinds = stored_kinds()
    User.objects.bulk_create([User(email=f"{name}@example.com", password=encoded) for name, encoded in kinds.items()])
    inventory.take()  # what operators run after an import; the servers read which kinds exist from it
    seconds: dict[str, list[float]] = {name: [] for name in [*kinds, "unknown email"]}
    with live_server_factory(workers=1, **NO_THROTTLE) as server, httpx.Client(base_url=server, timeout=60) as client:
        def attempt(email: str) -> float:
            started = time.perf_counter()
            response = client.post("/api/v1/auth/login", json={"email": email, "password": "a wrong password 1"})
            elapsed = time.perf_counter() - started
            assert response.status_code == 401, response.text
            return elapsed

        attempt("nobody@example.com")  # warm-up: the first failure of a process measures the kinds present
        for _ in range(ROUNDS):
            for name in seconds:
                seconds[name].append(attempt(f"{name}@example.com" if name in kinds else "nobody@example.com"))
    unknown = statistics.median(seconds.pop("unknown email"))
    ratios = {name: statistics.median(values) / unknown for name, values in seconds.items()}
    print("wrong password / unknown email, medians:", {name: round(r, 3) for name, r in ratios.items()})
    assert max(ratios.values()) <= 1.25, ratios
