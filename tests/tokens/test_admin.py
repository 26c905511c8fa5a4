"""Staff pages for tokens (tokens/admin.py): sessions and signing keys; revoking a session and
rotating the signing key take effect at once, and private keys are never shown."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.support.admin import PASSWORD, action, authenticates, staff  # noqa: F401
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
