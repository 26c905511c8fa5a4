"""Staff pages: revoking sessions, rotating keys and deactivating users take effect at once."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from accounts.models import ThrottleCounter, User
from tokens import keys, services
from tokens.exceptions import InvalidToken
from tokens.models import Session, SigningKey

PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    admin = User.objects.create_superuser("staff@example.com", PASSWORD)
    client.force_login(admin)
    return client


def action(client: Client, path: str, name: str, ids: list[object]) -> None:
    response = client.post(path, {"action": name, "_selected_action": [str(i) for i in ids]}, secure=True)
    assert response.status_code == 302, response.content[:300]


def authenticates(token: str) -> bool:
    services.verified_cache.clear()
    try:
        async_to_sync(services.aauthenticate_access)(token)
    except InvalidToken:
        return False
    return True


def test_changelists_render(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    services.issue_pair(user)
    keys.ring.signing_key()
    for path in ("/admin/accounts/user/", "/admin/tokens/session/", "/admin/tokens/signingkey/",
                 "/admin/accounts/throttlecounter/", f"/admin/accounts/user/{user.pk}/change/"):
        response = staff.get(path, secure=True)
        assert response.status_code == 200, path
    assert b"member@example.com" in staff.get("/admin/accounts/user/", secure=True).content


def test_revoke_session_action_ends_its_tokens(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    pair = services.issue_pair(user)
    assert authenticates(pair.access_token)
    action(staff, "/admin/tokens/session/", "revoke", [Session.objects.get(user=user).pk])
    assert not authenticates(pair.access_token)
    assert Session.objects.get(user=user).revoked_reason == "admin"


def test_deactivate_action_ends_sessions(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    pair = services.issue_pair(user)
    action(staff, "/admin/accounts/user/", "deactivate", [user.pk])
    user.refresh_from_db()
    assert not user.is_active
    assert not authenticates(pair.access_token)


def test_rotate_action_keeps_earlier_tokens_valid(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    pair = services.issue_pair(user)
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


def test_unlock_action_removes_counters(staff: Client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    row = ThrottleCounter.objects.create(key="thr:a:x", count=9, expires_at=timezone.now() + timedelta(minutes=5))
    action(staff, "/admin/accounts/throttlecounter/", "unlock", [row.pk])
    assert not ThrottleCounter.objects.exists()


def test_add_user_form_canonicalises_and_rejects_duplicates(staff: Client) -> None:
    User.objects.create_user("taken@example.com", PASSWORD)
    response = staff.post("/admin/accounts/user/add/", {"email": " TAKEN@Example.com ", "password1": PASSWORD,
                                                        "password2": PASSWORD, "usable_password": "true"}, secure=True)
    assert response.status_code == 200  # the form again, with an error
    assert User.objects.count() == 2  # staff + taken
    response = staff.post("/admin/accounts/user/add/", {"email": " New@Example.com ", "password1": PASSWORD,
                                                        "password2": PASSWORD, "usable_password": "true"}, secure=True)
    assert response.status_code == 302, response.content[:500]
    assert User.objects.filter(email="new@example.com").exists()
