"""Django admin login goes through accounts.backends.EmailBackend: the same
throttling, hashing cost and hash upgrade as the API's login."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY, authenticate
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test import Client, RequestFactory, override_settings

from accounts import passwords
from accounts.models import User
from tests.support.argon2_spy import Argon2Spy, argon2_spy  # noqa: F401

PASSWORD = "correct horse battery staple"
WRONG = "wrong horse battery staple!"
ADMIN_LOGIN = "/admin/login/?next=/admin/"
IP = "10.0.0.1"


def admin_login(client: Client, email: str, password: str, ip: str = IP) -> Any:
    # secure=True: in production settings browser pages are HTTPS-only (SECURE_SSL_REDIRECT).
    return client.post(ADMIN_LOGIN, {"username": email, "password": password}, secure=True, REMOTE_ADDR=ip)


def api_login(client: Client, email: str, password: str, ip: str = IP) -> Any:
    return client.post("/api/v1/auth/login", json.dumps({"email": email, "password": password}),
                       content_type="application/json", REMOTE_ADDR=ip)


def logged_in(client: Client) -> bool:
    return SESSION_KEY in client.session


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("boss@example.com", PASSWORD, is_staff=True, is_superuser=True)


@pytest.mark.django_db
def test_admin_login_with_any_form_of_the_email(client: Client, staff: User, argon2_spy: Argon2Spy) -> None:
    response = admin_login(client, "  ＢＯＳＳ@Example.com ", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert logged_in(client)
    # The verification ran on the bounded hashing pool, not on the request thread.
    assert argon2_spy.calls and all(t.startswith("argon2") for _, _, t in argon2_spy.calls)


@pytest.mark.django_db
@pytest.mark.parametrize("email,password", [("boss@example.com", WRONG), ("nobody@example.com", PASSWORD)])
def test_admin_login_failures_cost_one_current_argon2(
        client: Client, staff: User, argon2_spy: Argon2Spy, email: str, password: str) -> None:
    argon2_spy.reset()
    response = admin_login(client, email, password)
    assert response.status_code == 200 and not logged_in(client)
    assert argon2_spy.current == 1


@pytest.mark.django_db
def test_inactive_staff_cannot_log_in(client: Client, staff: User) -> None:
    staff.is_active = False
    staff.save()
    assert admin_login(client, "boss@example.com", PASSWORD).status_code == 200
    assert not logged_in(client)


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(3, 900), THROTTLE_ACCOUNT=(1000, 900), THROTTLE_IP=(1000, 900))
def test_api_failures_lock_the_admin_login_without_hashing(
        client: Client, staff: User, argon2_spy: Argon2Spy) -> None:
    for _ in range(3):
        assert api_login(client, "Boss@example.com", WRONG).status_code == 401
    argon2_spy.reset()
    response = admin_login(client, "boss@example.com", PASSWORD)
    assert response.status_code == 200 and not logged_in(client)
    assert argon2_spy.calls == []
    # From another address the account is still open.
    assert admin_login(client, "boss@example.com", PASSWORD, ip="10.0.0.2").status_code == 302


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(3, 900), THROTTLE_ACCOUNT=(1000, 900), THROTTLE_IP=(1000, 900))
def test_admin_failures_count_for_the_api(client: Client, staff: User) -> None:
    for _ in range(3):
        assert admin_login(client, "BOSS@example.com", WRONG).status_code == 200
    response = api_login(client, "boss@example.com", PASSWORD)
    assert response.status_code == 429 and response.json()["error"] == "too_many_attempts"


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(3, 900), THROTTLE_ACCOUNT=(1000, 900), THROTTLE_IP=(1000, 900))
def test_admin_success_clears_the_account_ip_counter(client: Client, staff: User) -> None:
    for _ in range(2):
        admin_login(client, "boss@example.com", WRONG)
    assert admin_login(client, "boss@example.com", PASSWORD).status_code == 302
    client.logout()
    for _ in range(3):
        assert api_login(client, "boss@example.com", WRONG).status_code == 401
    assert api_login(client, "boss@example.com", WRONG).status_code == 429


@pytest.mark.django_db
def test_admin_login_upgrades_a_legacy_hash(client: Client, staff: User) -> None:
    staff.password = make_password(PASSWORD, "somesalt", "md5")
    staff.save(update_fields=["password"])
    assert admin_login(client, "boss@example.com", PASSWORD).status_code == 302
    staff.refresh_from_db()
    assert passwords.hash_status(staff.password) == "current"


@pytest.mark.django_db(transaction=True)  # the "meanwhile" write commits from the pool thread
def test_upgrade_never_overwrites_a_hash_changed_meanwhile(
        staff: User, monkeypatch: pytest.MonkeyPatch) -> None:
    staff.password = make_password(PASSWORD, "somesalt", "md5")
    staff.save(update_fields=["password"])
    changed_meanwhile = make_password("a password set by an admin meanwhile", "othersalt", "md5")
    real_verify = passwords.verify

    def verify_then_admin_resets(password: str, encoded: str) -> passwords.Verification:
        result = real_verify(password, encoded)
        try:
            User.objects.filter(pk=staff.pk).update(password=changed_meanwhile)
        finally:
            connection.close()  # this pool thread's own connection
        return result

    monkeypatch.setattr(passwords, "verify", verify_then_admin_resets)
    request = RequestFactory().post("/admin/login/", REMOTE_ADDR=IP)
    assert authenticate(request, username="boss@example.com", password=PASSWORD) == staff
    staff.refresh_from_db()
    assert staff.password == changed_meanwhile


@pytest.mark.django_db
def test_authenticate_works_without_a_request_and_refuses_odd_input(staff: User) -> None:
    assert authenticate(None, username="BOSS@example.com", password=PASSWORD) == staff
    assert authenticate(None, email="boss@example.com", password=PASSWORD) == staff
    assert authenticate(None, username="boss@example.com", password="x" * 5000) is None  # never hashed
    assert authenticate(None, username=None, password=PASSWORD) is None
    assert authenticate(None, username="boss@example.com", password=None) is None


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(2, 900))
@pytest.mark.parametrize("exists", [True, False])
def test_a_throttled_admin_login_says_the_sign_in_is_locked_and_for_how_long(client: Client, exists: bool) -> None:
    email = "owner@example.com"
    if exists:
        User.objects.create_user(email, PASSWORD, is_staff=True)
    for _ in range(2):
        page = admin_login(client, email, WRONG).content.decode()
        assert "temporarily locked" not in page
    page = admin_login(client, email, PASSWORD).content.decode()
    assert "sign-in is temporarily locked. Try again in 15 minutes." in page
    assert not logged_in(client)
