"""Browser sessions (tokens/browser.py): a page login is a Session without tokens, live only
while it is unrevoked, unexpired and its account active."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from accounts.models import User
from tokens import browser, services
from tokens.exceptions import SessionNotFound
from tokens.models import RefreshToken, Session

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture
def member(db: None) -> User:
    return User.objects.create_user("member@example.com", PASSWORD)


def test_a_browser_session_is_a_session_without_refresh_tokens(member: User) -> None:
    sid = async_to_sync(browser.astart)(member, "10.0.0.1", "agent")
    session = Session.objects.get(pk=sid)
    assert (session.user_id, session.ip, session.user_agent) == (member.pk, "10.0.0.1", "agent")
    assert not RefreshToken.objects.exists()
    live = async_to_sync(browser.alive)(sid)
    assert live is not None and live.user.email == "member@example.com"


def test_a_session_stops_being_live_when_revoked_expired_or_its_account_inactive(member: User) -> None:
    alive = async_to_sync(browser.alive)
    revoked = async_to_sync(browser.astart)(member, "", "")
    services.revoke_user_sessions(member.pk, "logout_all")
    assert alive(revoked) is None
    expired = async_to_sync(browser.astart)(member, "", "")
    Session.objects.filter(pk=expired).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert alive(expired) is None
    inactive = async_to_sync(browser.astart)(member, "", "")
    User.objects.filter(pk=member.pk).update(is_active=False)
    assert alive(inactive) is None
    assert alive("not-a-uuid") is None and alive("00000000-0000-0000-0000-000000000000") is None


def test_a_page_view_touches_last_used_at_at_most_once_a_minute(member: User) -> None:
    sid = async_to_sync(browser.astart)(member, "", "")
    old = timezone.now() - timedelta(minutes=5)
    Session.objects.filter(pk=sid).update(last_used_at=old)
    async_to_sync(browser.alive)(sid)
    touched = Session.objects.get(pk=sid).last_used_at
    assert touched > old
    async_to_sync(browser.alive)(sid)
    assert Session.objects.get(pk=sid).last_used_at == touched


def test_ending_a_session_is_limited_to_its_owner(member: User) -> None:
    other = User.objects.create_user("other@example.com", PASSWORD)
    sid = async_to_sync(browser.astart)(other, "", "")
    with pytest.raises(SessionNotFound):
        async_to_sync(browser.aend)(member.pk, sid)
    async_to_sync(browser.aend)(other.pk, sid)
    assert Session.objects.get(pk=sid).revoked_reason == "logout"
    rows = async_to_sync(browser.alist)(member.pk, "")
    assert rows == []
