"""The login write (tokens/queries.py via tokens.services.aissue_pair): on the async pool one
statement, with the same rows, the same compare-and-swap and the same row lock as the ORM's
transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings

from django.test import Client
from django.utils import timezone

from accounts import passwords
from accounts.exceptions import InvalidCredentials
from accounts.models import User
from tests.support.client_api import API, PASSWORD, jwt_parts, post_json
from tests.support.dbpaths import db_path, pool_statements, while_a_lock_is_held  # noqa: F401
from tokens import services
from tokens.models import RefreshToken, Session

pytestmark = pytest.mark.django_db(transaction=True)
AGENT = "a browser " * 40


@pytest.fixture
def alice(db_path: str) -> User:
    return User.objects.create_user("alice@example.com", PASSWORD)


def issue(user: User, ip: str = "", user_agent: str = "") -> services.TokenPair:
    return async_to_sync(services.aissue_pair)(user, ip, user_agent)


def nothing_written(user: User) -> bool:
    return (not Session.objects.exists() and not RefreshToken.objects.exists()
            and User.objects.get(pk=user.pk).last_login is None)


def test_a_login_writes_the_session_and_refresh_token_the_orm_writes(alice: User) -> None:
    before = timezone.now()
    pair = issue(alice, "2001:db8::1/" + "9" * 80, AGENT)
    session, row = Session.objects.get(), RefreshToken.objects.get()
    alice.refresh_from_db()
    assert str(session.pk) == jwt_parts(pair.access_token)[1]["sid"] and session.user_id == alice.pk
    assert before <= session.created_at == session.last_used_at == alice.last_login <= timezone.now()
    assert session.ip == ("2001:db8::1/" + "9" * 80)[:64] and session.user_agent == AGENT[:256]
    assert (session.revoked_at, session.revoked_reason, session.refresh_window_start, session.refresh_count) == (
        None, "", None, 0)
    assert row.session_id == session.pk and row.used_at is None
    assert row.token_hash == services.digest_refresh_token(pair.refresh_token)
    assert pair.refresh_token.startswith(session.family) and len(session.family) == services.FAMILY_LENGTH
    assert row.expires_at == session.expires_at == session.created_at + timedelta(
        seconds=min(django_settings.REFRESH_TOKEN_TTL, django_settings.SESSION_MAX_AGE))
    assert session.created_at <= row.created_at <= timezone.now()


def test_the_pair_of_a_login_refreshes_and_logs_out(alice: User, api: Client) -> None:
    pair = issue(alice)
    response = post_json(api, f"{API}/refresh", {"refresh_token": pair.refresh_token})
    assert response.status_code == 200, response.content
    assert post_json(api, f"{API}/logout", {}, token=response.json()["access_token"]).status_code == 204
    assert Session.objects.get().revoked_at is not None


@pytest.mark.parametrize("change", ["password", "deactivation"])
def test_an_account_changed_after_the_password_was_verified_gets_no_session(alice: User, change: str) -> None:
    verified = User.objects.get(pk=alice.pk)  # what the login read and checked the password against
    if change == "password":
        User.objects.filter(pk=alice.pk).update(password=passwords.hash_password("the owner's new password"))
    else:
        User.objects.filter(pk=alice.pk).update(is_active=False)
    with pytest.raises(InvalidCredentials):
        issue(verified)
    assert nothing_written(alice)


def test_a_password_change_holding_the_row_lock_holds_the_login_back_until_it_commits(alice: User) -> None:
    verified = User.objects.get(pk=alice.pk)
    outcome = while_a_lock_is_held(
        lambda: User.objects.filter(pk=alice.pk).update(password=passwords.hash_password("changed while hashing")),
        lambda: issue(verified))
    assert isinstance(outcome.get("error"), InvalidCredentials), outcome
    assert nothing_written(alice)


@pytest.mark.parametrize("account_changed", [False, True])
def test_on_the_pool_the_login_write_is_one_statement(alice: User, db_path: str, account_changed: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    verified = User.objects.get(pk=alice.pk)

    async def second_login() -> list[str]:
        await services.aissue_pair(verified)  # first: a connection opened, the SQL compiled
        if account_changed:
            await User.objects.filter(pk=alice.pk).aupdate(is_active=False)
        with pool_statements(monkeypatch) as sent:
            try:
                await services.aissue_pair(verified)
            except InvalidCredentials:
                assert account_changed
        return sent

    sent = async_to_sync(second_login)()
    if db_path == "orm":
        assert sent == []  # the ORM path sends nothing through the pool
        return
    assert len(sent) == 1 and sent[0].startswith("WITH "), sent
    assert Session.objects.count() == RefreshToken.objects.count() == (1 if account_changed else 2)
