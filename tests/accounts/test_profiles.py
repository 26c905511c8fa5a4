"""accounts.profiles: the /me profile cache follows every change of the user row."""

from __future__ import annotations

import threading

import pytest
from asgiref.sync import async_to_sync
from django.db import connection, transaction
from django.test import Client

from accounts import profiles
from accounts.exceptions import AccountUnavailable
from accounts.models import User
from authsite.kit import stores
from tokens import services
from tests.support.tokens import issue_pair

PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.django_db


def me(client: Client, token: str) -> dict[str, object]:
    response = client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def user() -> User:
    return User.objects.create_user("profile@example.com", PASSWORD)


def test_first_read_fills_the_cache(user: User) -> None:
    client = stores.client()
    assert client is not None
    assert client.get(profiles.cache_key(user.pk)) is None
    profile = async_to_sync(profiles.aget_profile)(user.pk)
    assert profile["email"] == "profile@example.com"
    assert client.ttl(profiles.cache_key(user.pk)) <= profiles.PROFILE_TTL
    assert client.get(profiles.cache_key(user.pk)) is not None


def test_unknown_or_inactive_user_is_unavailable(user: User) -> None:
    with pytest.raises(AccountUnavailable):
        async_to_sync(profiles.aget_profile)(user.pk + 1000)
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(AccountUnavailable):
        async_to_sync(profiles.aget_profile)(user.pk)


@pytest.mark.parametrize("how", ["save", "bulk_update"])
def test_me_shows_a_changed_email_at_once(client: Client, user: User, how: str) -> None:
    pair = issue_pair(user)
    assert me(client, pair.access_token)["email"] == "profile@example.com"  # cached now
    if how == "save":
        user.email = "renamed@example.com"
        user.save()
    else:
        User.objects.filter(pk=user.pk).update(email="renamed@example.com")
    assert me(client, pair.access_token)["email"] == "renamed@example.com"


def login(client: Client, user: User) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD},
                           content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def test_me_shows_last_login_of_a_new_login(client: Client, user: User) -> None:
    first = login(client, user)
    seen = me(client, first["access_token"])["last_login"]  # cached now
    assert seen is not None
    login(client, user)
    assert me(client, first["access_token"])["last_login"] > seen


def test_bulk_update_of_other_fields_keeps_sessions(user: User) -> None:
    pair = issue_pair(user)
    User.objects.filter(pk=user.pk).update(is_staff=True)
    claims = async_to_sync(services.aauthenticate_access)(pair.access_token)
    assert claims.user_id == user.pk


@pytest.mark.django_db(transaction=True)
def test_a_profile_cached_while_a_change_commits_is_dropped_at_commit() -> None:
    user = User.objects.create_user("racing@example.com", PASSWORD)

    seen: list[object] = []

    def concurrent_me() -> None:  # another connection: it sees the committed, old row
        try:
            seen.append(async_to_sync(profiles.aget_profile)(user.pk)["is_staff"])
        finally:
            connection.close()

    with transaction.atomic():
        user.is_staff = True
        user.save()
        reader = threading.Thread(target=concurrent_me)
        reader.start()
        reader.join()
    assert seen == [False]
    assert async_to_sync(profiles.aget_profile)(user.pk)["is_staff"] is True
