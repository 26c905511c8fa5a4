"""Known-client tokens: bound to the account's current password, ignored once it changes."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from accounts import known_clients
from accounts.models import User
from tests.support.client_api import API, OTHER_PASSWORD, PASSWORD, login, post_json

pytestmark = pytest.mark.django_db

EMAIL = "owner@example.com"


def _login(client: Client, password: str, ip: str, token: str | None = None) -> int:
    body = {"email": EMAIL, "password": password}
    if token is not None:
        body["client_token"] = token
    return post_json(client, f"{API}/login", body, REMOTE_ADDR=ip).status_code


def _lock_the_account(client: Client) -> None:
    for i in range(3):
        _login(client, f"guess {i}", f"203.0.113.{i}")
    assert _login(client, OTHER_PASSWORD, "203.0.113.99") == 429


@override_settings(THROTTLE_ACCOUNT=(3, 900), THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_IP=(0, 0))
def test_a_password_change_voids_every_client_token(store: str) -> None:
    User.objects.create_user(EMAIL, PASSWORD)
    client = Client()
    old = [login(client, EMAIL, REMOTE_ADDR=f"198.51.100.{i}")["client_token"] for i in range(3)]
    user = User.objects.get(email=EMAIL)
    user.set_password(OTHER_PASSWORD)
    user.save()
    _lock_the_account(client)
    # Tokens from before the change are an unknown client's: locked out like any stranger.
    assert [_login(client, OTHER_PASSWORD, "192.0.2.1", token) for token in old] == [429, 429, 429]


@override_settings(THROTTLE_ACCOUNT=(3, 900), THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_IP=(0, 0))
def test_a_token_issued_for_the_current_password_still_gets_the_owner_in(store: str) -> None:
    User.objects.create_user(EMAIL, PASSWORD)
    client = Client()
    token = login(client, EMAIL, REMOTE_ADDR="198.51.100.1")["client_token"]
    _lock_the_account(client)
    response = post_json(client, f"{API}/login", {"email": EMAIL, "password": PASSWORD, "client_token": token},
                         REMOTE_ADDR="192.0.2.1")
    assert response.status_code == 200, response.content


def test_a_token_is_known_only_for_the_hash_it_was_issued_for() -> None:
    token = known_clients.issue(EMAIL, "hash one")
    claim = known_clients.claim(token, EMAIL)
    assert claim is not None and claim.holds("hash one") and not claim.holds("hash two")
    assert known_clients.claim(token, "other@example.com") is None
    assert known_clients.claim(token[:-2] + "xx", EMAIL) is None
