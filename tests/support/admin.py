"""Helpers for the staff (Django admin) page tests: a logged-in staff client and admin actions."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from tokens import services
from tokens.exceptions import InvalidToken

PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff(client: Client) -> Client:
    """The test client, logged in as a superuser."""
    admin = User.objects.create_superuser("staff@example.com", PASSWORD)
    client.force_login(admin)
    return client


def action(client: Client, path: str, name: str, ids: list[object]) -> None:
    """Run the admin action `name` of the changelist at `path` on the rows `ids`."""
    response = client.post(path, {"action": name, "_selected_action": [str(i) for i in ids]}, secure=True)
    assert response.status_code == 302, response.content[:300]


def authenticates(token: str) -> bool:
    """Whether the access token is accepted now (verified afresh, not from the cache)."""
    services.verified_cache.clear()
    try:
        async_to_sync(services.aauthenticate_access)(token)
    except InvalidToken:
        return False
    return True


@pytest.fixture
def viewer(client: Client) -> Client:
    """The test client, logged in as staff allowed to view (never change) every model."""
    user = User.objects.create_user("viewer@example.com", PASSWORD, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client.force_login(user)
    return client


def try_action(client: Client, path: str, name: str, ids: list[object]) -> None:
    """Post the admin action `name` as a client that may not run it: refused, never run."""
    response = client.post(path, {"action": name, "_selected_action": [str(i) for i in ids]}, secure=True)
    assert response.status_code in (200, 302, 403), response.content[:300]
    assert f'value="{name}"' not in client.get(path, secure=True).content.decode()
