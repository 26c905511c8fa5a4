"""Staff pages for accounts (accounts/admin.py): users and lockout counters; deactivating a
user and removing counters take effect at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts import passwords
from accounts.models import ThrottleCounter, User
from tests.support.admin import PASSWORD, action, authenticates, staff  # noqa: F401
from tests.support.argon2_spy import Argon2Spy, argon2_spy  # noqa: F401
from tests.support.tokens import issue_pair

pytestmark = pytest.mark.django_db


def test_user_and_lockout_pages_render(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    for path in ("/admin/accounts/user/", "/admin/accounts/throttlecounter/",
                 f"/admin/accounts/user/{user.pk}/change/"):
        response = staff.get(path, secure=True)
        assert response.status_code == 200, path
    assert b"member@example.com" in staff.get("/admin/accounts/user/", secure=True).content


def test_deactivate_action_ends_sessions(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    pair = issue_pair(user)
    action(staff, "/admin/accounts/user/", "deactivate", [user.pk])
    user.refresh_from_db()
    assert not user.is_active
    assert not authenticates(pair.access_token)


def test_unlock_action_removes_counters(staff: Client) -> None:
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


def test_admin_forms_and_createsuperuser_hash_in_the_bounded_pool(staff: Client, argon2_spy: Argon2Spy,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    response = staff.post("/admin/accounts/user/add/", {"email": "pooled@example.com", "password1": PASSWORD,
                                                        "password2": PASSWORD, "usable_password": "true"}, secure=True)
    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(email="pooled@example.com")
    response = staff.post(f"/admin/accounts/user/{user.pk}/password/",
                          {"password1": PASSWORD + " 2", "password2": PASSWORD + " 2", "usable_password": "true"},
                          secure=True)
    assert response.status_code == 302, response.content[:500]
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--noinput", "--email", "root@example.com", verbosity=0)
    encodes = [thread for operation, _, thread in argon2_spy.calls if operation == "encode"]
    assert len(encodes) == 3
    assert all(thread.startswith("argon2") for thread in encodes), encodes


def test_force_password_reset_action_ends_sessions_and_allows_a_reset(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    pair = issue_pair(user)
    action(staff, "/admin/accounts/user/", "force_password_reset", [user.pk])
    user.refresh_from_db()
    assert not authenticates(pair.access_token)
    assert not passwords.verify(PASSWORD, user.password).valid
    assert passwords.can_be_reset(user.password)
    assert b"member@example.com" in staff.get("/admin/accounts/user/?email_verified__exact=0", secure=True).content
