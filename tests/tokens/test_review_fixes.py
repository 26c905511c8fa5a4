"""Races and trust boundaries found in review: each test fails without its fix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.utils import timezone

from accounts import services as accounts
from accounts.exceptions import InvalidCredentials
from accounts.models import User
from tokens import jwt, keys, services
from tokens.exceptions import InvalidToken
from tokens.models import Session, SigningKey

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase 42"
pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> User:
    return User.objects.create_user("race@example.com", PASSWORD)


def test_login_verified_before_a_password_change_gets_no_session(user: User) -> None:
    attempt = accounts.login_attempt(user.email, PASSWORD, "10.0.0.9")
    verified = async_to_sync(accounts.aauthenticate)(attempt, PASSWORD)
    # The password changes while that login is between verification and session start.
    async_to_sync(accounts.achange_password)(user.pk, PASSWORD, NEW_PASSWORD)
    with pytest.raises(InvalidCredentials):
        async_to_sync(services.aissue_pair)(verified)
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()


def test_login_verified_before_a_deactivation_gets_no_session(user: User) -> None:
    verified = async_to_sync(accounts.aauthenticate)(accounts.login_attempt(user.email, PASSWORD, "10.0.0.9"), PASSWORD)
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(InvalidCredentials):
        services.issue_pair(verified)


def test_retired_key_stops_verifying_when_its_grace_ends(user: User) -> None:
    old = keys.ring.signing_key()
    services.issue_pair(user)
    session_id = str(Session.objects.get(user=user).pk)
    keys.rotate()
    token = services._sign_access(user.pk, session_id, old)
    assert async_to_sync(services.aauthenticate_access)(token).user_id == user.pk  # within grace
    # The grace has passed (backdate the retirement) and this worker re-reads its key set.
    SigningKey.objects.filter(kid=old.kid).update(retired_at=timezone.now() - keys.retired_grace() - timedelta(seconds=1))
    keys.ring.invalidate()
    services.verified_cache.clear()
    fresh = services._sign_access(user.pk, session_id, old)  # minted with the old private key
    with pytest.raises(InvalidToken):
        async_to_sync(services.aauthenticate_access)(fresh)
    assert jwt.unverified_kid(fresh) == old.kid


def test_bulk_update_deactivation_through_an_expression_ends_sessions(user: User) -> None:
    services.issue_pair(user)
    user.is_active = False
    User.objects.bulk_update([user], ["is_active"])  # Case/When, not a literal False
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()


def test_wrong_current_passwords_are_throttled(client: Client, user: User, settings) -> None:  # type: ignore[no-untyped-def]
    settings.THROTTLE_ACCOUNT_IP = (2, 900)
    pair = services.issue_pair(user)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {pair.access_token}"}
    statuses = [client.post("/api/v1/auth/password", {"current_password": f"wrong guess number {i}",
                                                       "new_password": NEW_PASSWORD},
                            content_type="application/json", **auth).status_code for i in range(3)]
    assert statuses == [400, 400, 429]


def test_api_refuses_a_host_outside_allowed_hosts(client: Client) -> None:
    response = client.post("/api/v1/auth/login", {"email": "a@example.com", "password": PASSWORD},
                           content_type="application/json", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert client.get("/healthz", HTTP_HOST="10.1.2.3").status_code == 200  # probes by IP still work


def test_peer_rewritten_by_the_server_counts_as_one_client(rf) -> None:  # type: ignore[no-untyped-def]
    from authsite.http import REWRITTEN_PEER, client_ip

    # uvicorn without --no-proxy-headers puts the header's address in the scope, port 0.
    forged = rf.post("/api/v1/auth/login", REMOTE_ADDR="203.0.113.7", REMOTE_PORT=0,
                     HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_ip(forged) == REWRITTEN_PEER
    direct = rf.post("/api/v1/auth/login", REMOTE_ADDR="203.0.113.7", REMOTE_PORT=51000,
                     HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_ip(direct) == "203.0.113.7"
