"""tokens/receivers.py + accounts/signals.py: admin-style account changes end the user's sessions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from tests.support.client_api import API, PASSWORD, assert_error, assert_invalid_token, get, jwt_parts, login, post_json
from tokens.models import Session
from tests.support.tokens import issue_pair

ME = f"{API}/me"
REFRESH = f"{API}/refresh"

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(db: None) -> User:
    return User.objects.create_user("bob@example.com", PASSWORD)


def dead(api: Client, pair: dict[str, Any]) -> None:
    assert_invalid_token(get(api, ME, pair["access_token"]))
    assert_invalid_token(get(api, f"{API}/sessions", pair["access_token"]))
    assert_invalid_token(post_json(api, REFRESH, {"refresh_token": pair["refresh_token"]}))


def test_deactivation_ends_every_session(api: Client, user: User, bob: User) -> None:
    pairs = [login(api, user.email) for _ in range(2)]
    bobs = login(api, bob.email)
    for pair in pairs:
        assert get(api, ME, pair["access_token"]).status_code == 200  # cached as verified
    user.is_active = False
    user.save()
    for pair in pairs:
        dead(api, pair)
    assert set(Session.objects.filter(user=user).values_list("revoked_reason", flat=True)) == {"deactivated"}
    assert_error(post_json(api, f"{API}/login", {"email": user.email, "password": PASSWORD}), 401, "invalid_credentials")
    assert get(api, ME, bobs["access_token"]).status_code == 200


def test_reactivation_does_not_revive_old_tokens(api: Client, user: User) -> None:
    pair = login(api, user.email)
    user.is_active = False
    user.save()
    user.is_active = True
    user.save()
    dead(api, pair)
    assert get(api, ME, login(api, user.email)["access_token"]).status_code == 200


def test_an_admin_password_reset_ends_every_session(api: Client, user: User) -> None:
    pair = login(api, user.email)
    user.set_password("a brand new admin-set password")
    user.save()
    dead(api, pair)
    assert set(Session.objects.filter(user=user).values_list("revoked_reason", flat=True)) == {"password_changed"}


def test_saving_other_fields_keeps_sessions(api: Client, user: User) -> None:
    pair = login(api, user.email)
    user.refresh_from_db()
    user.is_staff = True
    user.save()
    body = get(api, ME, pair["access_token"]).json()
    assert body["is_staff"] is True


def test_deletion_ends_every_session(api: Client, user: User, bob: User) -> None:
    pair = login(api, user.email)
    bobs = login(api, bob.email)
    assert get(api, ME, pair["access_token"]).status_code == 200
    sid = jwt_parts(pair["access_token"])[1]["sid"]
    user.delete()
    assert not Session.objects.filter(pk=sid).exists()
    dead(api, pair)
    assert get(api, ME, bobs["access_token"]).status_code == 200


def test_bulk_update_deactivation_through_an_expression_ends_sessions(user: User) -> None:
    issue_pair(user)
    user.is_active = False
    User.objects.bulk_update([user], ["is_active"])  # Case/When, not a literal False
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()
