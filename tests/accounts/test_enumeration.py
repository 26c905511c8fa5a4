"""Enumeration resistance: every login failure is the same response,
byte for byte, and costs the same hashing work; signup reveals an email only through 409."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client, override_settings

from accounts import passwords
from accounts.hashers import Argon2idHasher
from accounts.models import User
from tests.support.argon2_spy import Argon2Spy, argon2_spy  # noqa: F401

PASSWORD = "correct horse battery staple"
WRONG = "wrong horse battery staple!"
LOGIN = "/api/v1/auth/login"
SIGNUP = "/api/v1/auth/signup"


def post(client: Client, path: str, email: str, password: str, ip: str = "10.0.0.1") -> Any:
    return client.post(path, json.dumps({"email": email, "password": password}),
                       content_type="application/json", REMOTE_ADDR=ip)


def old_argon2(password: str) -> str:
    """An Argon2id hash at parameters other than the configured ones."""
    with override_settings(ARGON2_TIME_COST=1, ARGON2_MEMORY_COST=8192):
        return passwords.hash_password(password)


@pytest.fixture
def accounts(db: None) -> None:
    User.objects.create_user("argon@example.com", PASSWORD)
    User.objects.create_user("inactive@example.com", PASSWORD, is_active=False)
    legacy = User.objects.create_user("md5@example.com", None)
    legacy.password = make_password(PASSWORD, "somesalt", "md5")
    legacy.save(update_fields=["password"])
    older = User.objects.create_user("older@example.com", None)
    older.password = old_argon2(PASSWORD)
    older.save(update_fields=["password"])
    User.objects.create_user("unusable@example.com", None)  # set_unusable_password


FAILURES = [
    pytest.param("nobody@example.com", PASSWORD, id="unknown-email"),
    pytest.param("argon@example.com", WRONG, id="wrong-password"),
    pytest.param("inactive@example.com", PASSWORD, id="inactive-right-password"),
    pytest.param("inactive@example.com", WRONG, id="inactive-wrong-password"),
    pytest.param("md5@example.com", WRONG, id="legacy-md5-wrong-password"),
    pytest.param("older@example.com", WRONG, id="older-argon2-wrong-password"),
    pytest.param("unusable@example.com", WRONG, id="unusable-password"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("email,password", FAILURES)
def test_every_failure_is_one_response_and_one_current_argon2(
        client: Client, accounts: None, argon2_spy: Argon2Spy, email: str, password: str) -> None:
    reference = post(client, LOGIN, "nobody-else@example.com", WRONG, ip="10.9.9.9")
    argon2_spy.reset()
    response = post(client, LOGIN, email, password)
    assert response.status_code == reference.status_code == 401
    assert response.content == reference.content
    assert response["Content-Type"] == reference["Content-Type"]
    assert set(response.headers) == set(reference.headers)
    # Exactly one Argon2 computation at the configured parameters, on the hashing pool.
    assert argon2_spy.current == 1, argon2_spy.calls
    assert all(thread.startswith("argon2") for _, _, thread in argon2_spy.calls), argon2_spy.calls


@pytest.mark.django_db
def test_legacy_hashes_still_log_in(client: Client, accounts: None) -> None:
    # The failure-path padding does not break the success path it pads.
    for email in ("md5@example.com", "older@example.com", "argon@example.com"):
        assert post(client, LOGIN, email, PASSWORD).status_code == 200
    assert passwords.hash_status(User.objects.get(email="md5@example.com").password) == "current"


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_ACCOUNT=(1000, 900), THROTTLE_IP=(1000, 900))
def test_throttled_unknown_and_known_accounts_answer_alike(
        client: Client, accounts: None, argon2_spy: Argon2Spy) -> None:
    for email in ("argon@example.com", "nobody@example.com"):
        for _ in range(2):
            assert post(client, LOGIN, email, WRONG).status_code == 401
    argon2_spy.reset()
    known = post(client, LOGIN, "argon@example.com", PASSWORD)
    unknown = post(client, LOGIN, "nobody@example.com", PASSWORD)
    assert known.status_code == unknown.status_code == 429
    assert known.content == unknown.content
    assert set(known.headers) == set(unknown.headers)
    assert argon2_spy.calls == []


@pytest.mark.django_db
def test_signup_reveals_an_email_only_through_409(client: Client, accounts: None) -> None:
    taken = post(client, SIGNUP, "ARGON@example.com", "another long passphrase 77")
    assert taken.status_code == 409
    assert taken.json() == {"error": "email_taken", "message": "An account with this email already exists."}
    # Invalid input is refused the same way whether or not the address is taken.
    weak_taken = post(client, SIGNUP, "argon@example.com", "short")
    weak_free = post(client, SIGNUP, "free@example.com", "short")
    assert weak_taken.status_code == weak_free.status_code == 400
    assert weak_taken.content == weak_free.content
    assert post(client, SIGNUP, "free@example.com", "another long passphrase 77").status_code == 201


def test_spy_sees_older_parameters_as_not_current(argon2_spy: Argon2Spy) -> None:
    # Guards the spy itself: a verification at older parameters must not count as current.
    encoded = old_argon2(PASSWORD)
    argon2_spy.reset()
    Argon2idHasher().verify(PASSWORD, encoded)
    assert argon2_spy.calls and argon2_spy.current == 0
