"""`manage.py seed_users`: N users, one hash, idempotent, and they can log in."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from accounts import passwords
from accounts.models import User


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_users", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seeds_users_hashing_once_and_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = passwords.hash_password
    monkeypatch.setattr(passwords, "hash_password", lambda pw: calls.append(pw) or real(pw))
    out = seed("--count", "25", "--batch-size", "10", "--password", "seeded-password-123", "--prefix", "Seed-")
    assert "25 users created" in out
    assert calls == ["seeded-password-123"]  # one hash for all 25
    users = User.objects.filter(email__startswith="seed-")
    assert users.count() == 25
    assert users.values("password").distinct().count() == 1
    assert passwords.hash_status(users.first().password) == "current"  # type: ignore[union-attr]
    assert "5 users created" in seed("--count", "30", "--prefix", "Seed-", "--password", "seeded-password-123")
    assert "0 users created" in seed("--count", "30", "--prefix", "Seed-", "--password", "seeded-password-123")
    assert users.count() == 30  # no duplicates


@pytest.mark.django_db
def test_seeded_user_can_log_in() -> None:
    seed("--count", "3", "--prefix", "login-seed-")
    r = Client().post("/api/v1/auth/login", {"email": "login-seed-2@example.com", "password": "load-test-password-0123"},
                      content_type="application/json")
    assert r.status_code == 200, r.content


def test_help_says_the_hash_is_shared() -> None:
    from accounts.management.commands.seed_users import Command

    assert "hashed ONCE" in Command.help and "seed data" in Command.help
