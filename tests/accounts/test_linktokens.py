"""Tokens of mailed links: 128-bit HMACs bound to the account's state, with a time to live."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.test import override_settings
from django.utils.http import base36_to_int, int_to_base36

from accounts import linktokens, passwords
from accounts.linktokens import email_verification, password_reset
from accounts.models import User
from tests.support.client_api import PASSWORD


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice@example.com", PASSWORD)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """A controlled clock for link tokens: set `clock[0]` to move time."""
    now = [datetime(2030, 1, 1, 12, 0, 0)]
    monkeypatch.setattr(linktokens.LinkTokenGenerator, "clock", staticmethod(lambda: now[0]))
    return now


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def test_a_token_names_its_account_and_carries_128_bits_of_hmac(alice: User) -> None:
    token = password_reset.make_link_token(alice)
    uid, timestamp, mac = token.split("-")
    assert int(uid, 36) == alice.pk
    assert len(mac) == 32 and int(mac, 16) >= 0  # 32 hex digits: 128 bits
    assert password_reset.check_link_token(token, alice)
    # The two kinds do not accept each other's tokens.
    assert not email_verification.check_link_token(token, alice)
    assert not password_reset.check_link_token(email_verification.make_link_token(alice), alice)


def test_expiry_follows_the_configured_ttl(alice: User, clock: list[datetime]) -> None:
    token = password_reset.make_link_token(alice)
    with override_settings(PASSWORD_RESET_TTL=3600):
        clock[0] += timedelta(seconds=3600)
        assert password_reset.check_link_token(token, alice)
        clock[0] += timedelta(seconds=1)
        assert not password_reset.check_link_token(token, alice)
    verify = email_verification.make_link_token(alice)
    with override_settings(EMAIL_VERIFICATION_TTL=7200):
        clock[0] += timedelta(seconds=7201)
        assert not email_verification.check_link_token(verify, alice)


def test_a_reset_token_dies_when_the_password_hash_changes(alice: User) -> None:
    token = password_reset.make_link_token(alice)
    alice.password = passwords.hash_password(PASSWORD)  # same password, new salt
    assert not password_reset.check_link_token(token, alice)


def test_a_reset_token_dies_with_a_login_or_an_email_change(alice: User) -> None:
    token = password_reset.make_link_token(alice)
    alice.last_login = datetime(2030, 1, 1, 12, 0, 1).astimezone()
    assert not password_reset.check_link_token(token, alice)
    alice = fresh(alice)
    alice.email = "alice2@example.com"
    assert not password_reset.check_link_token(token, alice)


def test_a_verification_token_dies_once_verified_or_readdressed(alice: User) -> None:
    token = email_verification.make_link_token(alice)
    alice.email_verified = True
    assert not email_verification.check_link_token(token, alice)
    alice = fresh(alice)
    alice.email = "alice2@example.com"
    assert not email_verification.check_link_token(token, alice)


def test_another_accounts_token_is_refused(alice: User) -> None:
    bob = User.objects.create_user("bob@example.com", PASSWORD)
    bobs = password_reset.make_link_token(bob)
    assert not password_reset.check_link_token(bobs, alice)
    # Bob's timestamp and MAC under Alice's id: the MAC covers the id.
    uid36 = password_reset.make_link_token(alice).split("-")[0]
    forged = f"{uid36}-{bobs.split('-', 1)[1]}"
    assert not password_reset.check_link_token(forged, alice)


@pytest.mark.parametrize("token", [
    "", "-", "--", "x", "1-2", "1-2-3-4", "zz-zz-zz", "0-abc-" + "0" * 32, "-abc-" + "0" * 32,
    "1" * 14 + "-abc-" + "0" * 32, "é-abc-" + "0" * 32, "1-!!-" + "0" * 32, "1-abc-" + "0" * 200,
    "1-abc-" + "g" * 32,
])
def test_malformed_tokens_are_refused(alice: User, token: str) -> None:
    assert not password_reset.check_link_token(token, alice)
    assert not password_reset.check_link_token(token, None)


def test_a_tampered_mac_or_timestamp_is_refused(alice: User) -> None:
    token = password_reset.make_link_token(alice)
    uid, timestamp, mac = token.split("-")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    assert not password_reset.check_link_token(f"{uid}-{timestamp}-{flipped}", alice)
    stamp = int_to_base36(base36_to_int(timestamp) + 1000)
    assert not password_reset.check_link_token(f"{uid}-{stamp}-{mac}", alice)
