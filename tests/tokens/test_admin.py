"""Staff pages for tokens (tokens/admin.py): sessions and signing keys; revoking a session and
rotating the signing key take effect at once, and private keys are never shown."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.support.admin import PASSWORD, action, authenticates, staff, try_action, viewer  # noqa: F401
from tokens import keys
from tokens.models import Session, SigningKey
from tests.support.tokens import issue_pair

pytestmark = pytest.mark.django_db


def test_session_and_signing_key_pages_render(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    issue_pair(user)
    keys.ring.signing_key()
    for path in ("/admin/tokens/session/", "/admin/tokens/signingkey/"):
        response = staff.get(path, secure=True)
        assert response.status_code == 200, path


def test_revoke_session_action_ends_its_tokens(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    pair = issue_pair(user)
    assert authenticates(pair.access_token)
    action(staff, "/admin/tokens/session/", "revoke", [Session.objects.get(user=user).pk])
    assert not authenticates(pair.access_token)
    assert Session.objects.get(user=user).revoked_reason == "admin"


def test_rotate_action_keeps_earlier_tokens_valid(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    pair = issue_pair(user)
    old = SigningKey.objects.get(is_active=True)
    action(staff, "/admin/tokens/signingkey/", "rotate", [old.pk])
    new = SigningKey.objects.get(is_active=True)
    assert new.kid != old.kid
    assert authenticates(pair.access_token)
    kids = {k["kid"] for k in keys.jwks()["keys"]}
    assert {old.kid, new.kid} <= kids


def test_signing_keys_cannot_be_deleted_or_shown(staff: Client) -> None:
    keys.ring.signing_key()
    row = SigningKey.objects.get(is_active=True)
    page = staff.get(f"/admin/tokens/signingkey/{row.pk}/change/", secure=True)
    assert page.status_code == 200
    assert b"private_key" not in page.content
    assert staff.get(f"/admin/tokens/signingkey/{row.pk}/delete/", secure=True).status_code == 403


def test_staff_revoke_sessions_and_cannot_delete_them(staff: Client) -> None:
    user = User.objects.create_user("kept@example.com", PASSWORD)
    issue_pair(user)
    session = Session.objects.get(user=user)
    page = staff.get("/admin/tokens/session/", secure=True).content.decode()
    assert 'value="revoke"' in page and 'value="delete_selected"' not in page
    assert staff.get(f"/admin/tokens/session/{session.pk}/delete/", secure=True).status_code == 403
    assert Session.objects.filter(pk=session.pk).exists()


def test_signing_keys_show_their_state(staff: Client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    expired = keys.rotate_signing_key()
    retired = keys.rotate_signing_key()
    active = keys.rotate_signing_key()
    SigningKey.objects.filter(pk=expired.pk).update(retired_at=timezone.now() - timedelta(days=1))
    page = staff.get("/admin/tokens/signingkey/", secure=True).content.decode()
    for row, state in ((active, "active"), (retired, "retired"), (expired, "expired")):
        assert f'{row.kid}</a></th><td class="field-state">{state}</td>' in page, state
    assert "private" not in page.lower()


def test_sessions_list_shows_user_agent_and_state_and_filters_by_state(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    issue_pair(user, ip="10.0.0.1", user_agent="live agent")
    issue_pair(user, ip="10.0.0.2", user_agent="ended agent")
    ended = Session.objects.get(user_agent="ended agent")
    action(staff, "/admin/tokens/session/", "revoke", [ended.pk])
    page = staff.get("/admin/tokens/session/", secure=True).content.decode()
    assert "live agent" in page and "revoked (admin)" in page
    active = staff.get("/admin/tokens/session/?state=active", secure=True)
    assert [s.user_agent for s in active.context["cl"].result_list] == ["live agent"]
    revoked = staff.get("/admin/tokens/session/?state=revoked", secure=True)
    assert [s.user_agent for s in revoked.context["cl"].result_list] == ["ended agent"]


def test_the_admin_index_shows_the_dashboard(staff: Client) -> None:
    from django.utils import timezone

    from accounts.models import LoginAttempt
    from tests.support.client_api import pbkdf2_hash

    user = User.objects.create_user("member@example.com", PASSWORD)
    legacy = User.objects.create_user("legacy@example.com")
    User.objects.filter(pk=legacy.pk).update(password=pbkdf2_hash(PASSWORD))
    issue_pair(user)
    now = timezone.now()
    for outcome in ("bad_credentials", "throttled", "throttled", "success"):
        LoginAttempt.objects.create(at=now, email="member@example.com", outcome=outcome, source="api")
    response = staff.get("/admin/", secure=True)
    assert response.status_code == 200
    context = response.context
    assert {status: count for status, _, count in context["users_by_hash_status"]} == {
        "current": 2, "outdated": 0, "weak": 1, "wrapped": 0, "beyond_limits": 0, "unusable": 0}
    assert context["active_sessions"] == 1
    assert context["last_hour"] == {"failed": 3, "throttled": 2, "locked_out": 1}
    assert context["last_day"]["failed"] == 3
    assert b"At a glance" in response.content and b"?hash_status=weak" in response.content


def test_staff_who_may_only_view_cannot_revoke_sessions_or_rotate_keys(viewer: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    pair = issue_pair(user)
    key = SigningKey.objects.get(is_active=True)
    try_action(viewer, "/admin/tokens/session/", "revoke", [Session.objects.get(user=user).pk])
    try_action(viewer, "/admin/tokens/signingkey/", "rotate", [key.pk])
    assert authenticates(pair.access_token)
    assert Session.objects.get(user=user).revoked_at is None
    assert list(SigningKey.objects.filter(is_active=True)) == [key]
