"""Account rules (accounts/services.py): uniform login failures, upgrade on login, compare-and-swap."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import Client, override_settings

from accounts import passwords, services
from accounts.exceptions import InvalidCredentials
from accounts.models import User
from tests.support.client_api import (
    API,
    OTHER_PASSWORD,
    PASSWORD,
    HashSpy,
    argon2_hash,
    assert_error,
    login,
    pbkdf2_hash,
    post_json,
)

LOGIN = f"{API}/login"

pytestmark = pytest.mark.django_db


def attempt(api: Client, email: str, password: str) -> Any:
    return post_json(api, LOGIN, {"email": email, "password": password})


def comparable(response: Any) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    """Everything a client sees, except the per-request id."""
    headers = tuple(sorted((k, v) for k, v in response.headers.items() if k.lower() != "x-request-id"))
    return response.status_code, response.content, headers


# --- one failure, whatever the reason ---

def test_login_failures_are_identical_and_cost_one_current_argon2_verification(api: Client, hash_spy: HashSpy) -> None:
    User.objects.create_user("known@example.com", PASSWORD)
    User.objects.create_user("gone@example.com", PASSWORD, is_active=False)
    passwords.dummy_verify("warm-up")  # the dummy hash is made once per process, on first use
    seen = {}
    for label, email, password in [
        ("unknown email", "nobody@example.com", PASSWORD),
        ("wrong password", "known@example.com", "wrong password entirely"),
        ("inactive account", "gone@example.com", PASSWORD),  # even with the right password
    ]:
        hash_spy.reset()
        response = attempt(api, email, password)
        assert_error(response, 401, "invalid_credentials")
        assert "WWW-Authenticate" not in response
        seen[label] = comparable(response)
        # Exactly one Argon2 verification at the current parameters, on a pool thread.
        assert len(hash_spy.verifies) == 1, (label, hash_spy.verifies)
        assert hash_spy.current_verifies == 1, label
        assert not hash_spy.encodes, label
        assert all(name.startswith("argon2") for name in hash_spy.threads), hash_spy.threads
    assert len(set(seen.values())) == 1, seen


def test_a_wrong_password_on_a_legacy_hash_still_costs_one_current_argon2_verification(
        api: Client, hash_spy: HashSpy) -> None:
    User.objects.create(email="legacy@example.com", password=pbkdf2_hash(PASSWORD))
    User.objects.create(email="old@example.com", password=argon2_hash(PASSWORD, time_cost=1, memory_cost=8192))
    passwords.dummy_verify("warm-up")
    reference = attempt(api, "nobody@example.com", PASSWORD)
    for email in ("legacy@example.com", "old@example.com"):
        hash_spy.reset()
        response = attempt(api, email, "wrong password entirely")
        assert comparable(response)[:2] == comparable(reference)[:2]
        assert hash_spy.current_verifies == 1, (email, hash_spy.verifies)
        assert not hash_spy.encodes


@pytest.mark.parametrize("stored", ["!unusable-password", "argon2$nonsense", "sha1$$not-a-digest", "garbage"])
def test_an_account_with_an_unusable_or_malformed_hash_fails_like_any_other(api: Client, hash_spy: HashSpy,
                                                                           stored: str) -> None:
    User.objects.create(email="odd@example.com", password=stored)
    passwords.dummy_verify("warm-up")
    reference = comparable(attempt(api, "nobody@example.com", PASSWORD))
    hash_spy.reset()
    response = attempt(api, "odd@example.com", PASSWORD)
    assert comparable(response) == reference
    assert hash_spy.current_verifies == 1 and len(hash_spy.verifies) == 1 and not hash_spy.encodes


def test_a_successful_login_with_a_current_hash_does_not_rehash(api: Client, user: User, hash_spy: HashSpy) -> None:
    stored = user.password
    hash_spy.reset()
    login(api, "alice@example.com")
    assert hash_spy.current_verifies == 1 and not hash_spy.encodes
    user.refresh_from_db()
    assert user.password == stored
    assert user.last_login is not None


@pytest.mark.parametrize("variant", ["ALICE@example.com", "  alice@EXAMPLE.com ", "ａｌｉｃｅ@ｅｘａｍｐｌｅ.ｃｏｍ"])
def test_login_accepts_every_form_of_the_email(api: Client, user: User, variant: str) -> None:
    login(api, variant)


def test_passwords_are_verified_exactly_as_received(api: Client, user: User) -> None:
    for variant in (f" {PASSWORD}", f"{PASSWORD} ", PASSWORD.upper(), PASSWORD.title()):
        assert_error(attempt(api, "alice@example.com", variant), 401, "invalid_credentials")


def test_a_2000_character_password_at_login_is_400_without_hashing(api: Client, user: User, hash_spy: HashSpy) -> None:
    response = attempt(api, "alice@example.com", "z" * 2000)
    assert_error(response, 400, "validation_error")
    assert set(response.json()["fields"]) == {"password"}
    assert hash_spy.total == 0


# --- upgrade on login ---

@pytest.mark.parametrize("make_old", [
    pytest.param(lambda: argon2_hash(PASSWORD, time_cost=1, memory_cost=8192), id="argon2id-lower-cost"),
    pytest.param(lambda: argon2_hash(PASSWORD, time_cost=3, memory_cost=8192, parallelism=2), id="argon2id-other-cost"),
    pytest.param(lambda: pbkdf2_hash(PASSWORD), id="pbkdf2"),
])
def test_login_with_an_outdated_hash_stores_the_current_argon2id_hash(api: Client, make_old: Any) -> None:
    old = make_old()
    assert passwords.hash_status(old) != "current"
    user = User.objects.create(email="old@example.com", password=old)
    login(api, "old@example.com")
    user.refresh_from_db()
    assert user.password != old
    assert passwords.hash_status(user.password) == "current"
    assert user.check_password(PASSWORD)
    # And the new hash works for the next login, without another upgrade.
    login(api, "old@example.com")
    user.refresh_from_db()
    assert passwords.hash_status(user.password) == "current"


def test_a_hash_made_while_the_settings_were_different_is_upgraded(api: Client) -> None:
    with override_settings(ARGON2_TIME_COST=1, ARGON2_MEMORY_COST=8192):
        user = User.objects.create_user("older@example.com", PASSWORD)
        assert passwords.hash_status(user.password) == "current"
    assert passwords.hash_status(user.password) != "current"
    login(api, "older@example.com")
    user.refresh_from_db()
    assert passwords.hash_status(user.password) == "current"


def test_a_failed_login_never_upgrades(api: Client) -> None:
    old = pbkdf2_hash(PASSWORD)
    user = User.objects.create(email="old@example.com", password=old)
    assert_error(attempt(api, "old@example.com", OTHER_PASSWORD), 401, "invalid_credentials")
    user.refresh_from_db()
    assert user.password == old


def test_an_inactive_account_is_not_upgraded(api: Client) -> None:
    old = pbkdf2_hash(PASSWORD)
    user = User.objects.create(email="old@example.com", password=old, is_active=False)
    assert_error(attempt(api, "old@example.com", PASSWORD), 401, "invalid_credentials")
    user.refresh_from_db()
    assert user.password == old


def test_the_upgrade_does_not_overwrite_a_hash_changed_meanwhile() -> None:
    user = User.objects.create(email="old@example.com", password=pbkdf2_hash(PASSWORD))
    stale = User.objects.get(pk=user.pk)
    # Meanwhile an admin (or a password change) stores another password.
    User.objects.filter(pk=user.pk).update(password=passwords.hash_password(OTHER_PASSWORD))
    changed = User.objects.get(pk=user.pk).password
    async_to_sync(services.astore_upgrade)(stale, passwords.hash_password(PASSWORD))
    user.refresh_from_db()
    assert user.password == changed
    assert user.check_password(OTHER_PASSWORD)


def test_the_upgrade_writes_when_nothing_changed() -> None:
    # Control for the test above: the same call on a fresh object does store the new hash.
    user = User.objects.create(email="old@example.com", password=pbkdf2_hash(PASSWORD))
    new = passwords.hash_password(PASSWORD)
    async_to_sync(services.astore_upgrade)(user, new)
    user.refresh_from_db()
    assert user.password == new


def test_a_password_change_racing_a_login_upgrade_wins(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hash changes between the login's verification and its upgrade: the change stays,
    and the racing login is refused (no login outlives a password change)."""
    user = User.objects.create(email="old@example.com", password=pbkdf2_hash(PASSWORD))
    replacement = passwords.hash_password(OTHER_PASSWORD)
    real_averify = passwords.averify

    async def averify_then_change(password: str, encoded: str) -> passwords.Verification:
        result = await real_averify(password, encoded)
        await User.objects.filter(pk=user.pk).aupdate(password=replacement)
        return result

    monkeypatch.setattr(passwords, "averify", averify_then_change)
    assert_error(attempt(api, "old@example.com", PASSWORD), 401, "invalid_credentials")
    monkeypatch.undo()
    user.refresh_from_db()
    assert user.password == replacement
    assert_error(attempt(api, "old@example.com", PASSWORD), 401, "invalid_credentials")
    login(api, "old@example.com", OTHER_PASSWORD)


# --- services called directly ---

def test_aauthenticate_returns_the_user_and_login_records_last_login(api: Client, user: User) -> None:
    found = async_to_sync(services.aauthenticate)(services.login_attempt(" ALICE@example.com", PASSWORD, "10.0.0.1"),
                                                   PASSWORD)
    assert found.pk == user.pk
    # Like django.contrib.auth.authenticate, verifying is not logging in.
    user.refresh_from_db()
    assert user.last_login is None
    login(api, "alice@example.com")  # the endpoint starts a session: that records the login
    user.refresh_from_db()
    assert user.last_login is not None


def test_aauthenticate_raises_invalid_credentials(user: User) -> None:
    with pytest.raises(InvalidCredentials):
        async_to_sync(services.aauthenticate)(services.login_attempt("alice@example.com", "nope nope nope", "10.0.0.1"),
                                              "nope nope nope")


def test_achange_password_keeps_a_hash_changed_meanwhile(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    replacement = passwords.hash_password("third password of alice 7")
    real_averify = passwords.averify

    async def averify_then_change(password: str, encoded: str) -> passwords.Verification:
        result = await real_averify(password, encoded)
        await sync_to_async(User.objects.filter(pk=user.pk).update)(password=replacement)
        return result

    monkeypatch.setattr(passwords, "averify", averify_then_change)
    from authsite.kit.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed) as info:
        async_to_sync(services.achange_password)(user.pk, PASSWORD, OTHER_PASSWORD)
    assert set(info.value.fields) == {"current_password"}
    user.refresh_from_db()
    assert user.password == replacement
