"""Refresh-token rotation (tokens.services.arefresh) on both database paths: the async pool's
one transaction and the ORM's give the same rotations, refusals, reuse detection and locks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from django.utils import timezone

from accounts.exceptions import TooManyAttempts
from accounts.models import User
from tests.support.client_api import PASSWORD
from tests.support.dbpaths import db_path, while_a_lock_is_held  # noqa: F401
from tokens import codec, services
from tokens.exceptions import InvalidToken
from tokens.models import RefreshToken, Revocation, Session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pair(db_path: str) -> services.TokenPair:
    user = User.objects.create_user("alice@example.com", PASSWORD)
    return async_to_sync(services.aissue_pair)(user, "10.0.0.1", "agent")


def refresh(token: str, ip: str = "") -> services.TokenPair:
    return async_to_sync(services.arefresh)(token, ip)


def row_of(token: str) -> RefreshToken:
    return RefreshToken.objects.get(token_hash=services.digest_refresh_token(token))


def test_a_rotation_uses_the_token_once_and_keeps_two_rows_per_session(pair: services.TokenPair) -> None:
    first = refresh(pair.refresh_token, "192.0.2.7")
    session = Session.objects.get()
    assert row_of(pair.refresh_token).used_at == session.last_used_at > session.created_at
    assert row_of(first.refresh_token).used_at is None
    assert session.ip == "192.0.2.7" and session.refresh_count == 1
    assert session.expires_at == row_of(first.refresh_token).expires_at
    second = refresh(first.refresh_token)
    # The oldest used row became the newest token: only the last used one is kept.
    assert RefreshToken.objects.count() == 2
    assert row_of(second.refresh_token).used_at is None and row_of(first.refresh_token).used_at is not None
    assert not RefreshToken.objects.filter(token_hash=services.digest_refresh_token(pair.refresh_token)).exists()
    assert Session.objects.get().ip == "192.0.2.7"  # no address given: the last one stays
    assert codec.unverified_kid(second.access_token)


def test_a_used_token_presented_again_revokes_its_session(pair: services.TokenPair, settings: Any) -> None:
    settings.REFRESH_RETRY_GRACE = 0
    refresh(pair.refresh_token)
    with pytest.raises(InvalidToken):
        refresh(pair.refresh_token)
    session = Session.objects.get()
    assert session.revoked_reason == "refresh_reuse" and session.revoked_at is not None
    assert Revocation.objects.filter(session_id=session.pk).exists()


def test_a_token_presented_again_within_the_grace_gets_a_pair_and_its_unused_successor_dies(
        pair: services.TokenPair) -> None:
    lost = refresh(pair.refresh_token)
    retried = refresh(pair.refresh_token)
    assert retried.refresh_token != lost.refresh_token
    assert row_of(lost.refresh_token).used_at is not None and row_of(lost.refresh_token).expires_at <= timezone.now()
    assert Session.objects.get().revoked_at is None
    with pytest.raises(InvalidToken):  # the dead successor is reuse now
        refresh(lost.refresh_token)
    assert Session.objects.get().revoked_reason == "refresh_reuse"


def test_a_token_of_a_pruned_row_is_recognised_by_its_family(pair: services.TokenPair) -> None:
    with pytest.raises(InvalidToken):
        refresh("0" * 32 + "y" * 43)  # no such family: unknown, nothing revoked
    assert Session.objects.get().revoked_at is None
    with pytest.raises(InvalidToken):
        refresh(Session.objects.get().family + "x" * 43)
    assert Session.objects.get().revoked_reason == "refresh_reuse"


@pytest.mark.parametrize("change", ["revoked", "deactivated", "expired", "too old"])
def test_refresh_is_refused_when_the_session_can_no_longer_be_used(pair: services.TokenPair, change: str) -> None:
    session = Session.objects.get()
    if change == "revoked":
        services.revoke_user_sessions(session.user_id, "logout_all")
    elif change == "deactivated":
        User.objects.filter(pk=session.user_id).update(is_active=False)
    elif change == "expired":
        RefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        Session.objects.update(created_at=timezone.now() - timedelta(days=365))
    with pytest.raises(InvalidToken):
        refresh(pair.refresh_token)
    assert row_of(pair.refresh_token).used_at is None


def test_refreshes_over_the_throttle_are_refused_and_write_nothing(pair: services.TokenPair, settings: Any) -> None:
    settings.THROTTLE_REFRESH = (1, 600)
    first = refresh(pair.refresh_token)
    with pytest.raises(TooManyAttempts):
        refresh(first.refresh_token)
    assert row_of(first.refresh_token).used_at is None and Session.objects.get().refresh_count == 1


def test_a_signing_failure_rolls_the_rotation_back(pair: services.TokenPair, settings: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    settings.REFRESH_RETRY_GRACE = 0

    def failing_signer(*args: object, **kwargs: object) -> str:
        raise RuntimeError("signer unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(codec, "encode_access", failing_signer)
        with pytest.raises(RuntimeError):
            refresh(pair.refresh_token)
    assert row_of(pair.refresh_token).used_at is None and RefreshToken.objects.count() == 1
    assert refresh(refresh(pair.refresh_token).refresh_token).access_token


def test_a_concurrent_use_holding_the_token_row_waits_and_then_counts_as_reuse(pair: services.TokenPair,
                                                                               settings: Any) -> None:
    settings.REFRESH_RETRY_GRACE = 0

    def use_elsewhere() -> None:  # another refresh of the same token, holding its row
        row = RefreshToken.objects.select_for_update().get(pk=row_of(pair.refresh_token).pk)
        row.used_at = timezone.now()
        row.save(update_fields=["used_at"])

    outcome = while_a_lock_is_held(use_elsewhere, lambda: refresh(pair.refresh_token))
    assert isinstance(outcome.get("error"), InvalidToken), outcome
    assert Session.objects.get().revoked_reason == "refresh_reuse"

