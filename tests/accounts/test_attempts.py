"""The login-attempt audit log (accounts/attempts.py): one row per attempt through the login
services, with its outcome, written in batches off the request path, bounded, purged."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import attempts, passwords, services, tasks
from accounts.exceptions import InvalidCredentials, Overloaded, TooManyAttempts
from accounts.models import LoginAttempt, User
from tests.support.pages import logged_attempts

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def api_login(client: Client, email: str, password: str, ip: str = "198.51.100.7") -> int:
    return client.post("/api/v1/auth/login", {"email": email, "password": password},
                       content_type="application/json", REMOTE_ADDR=ip).status_code


def test_each_outcome_is_recorded_with_the_canonical_email_the_account_and_the_address(client: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    User.objects.create_user("gone@example.com", PASSWORD, is_active=False)
    assert api_login(client, " Member@Example.COM ", PASSWORD) == 200
    assert api_login(client, "member@example.com", "wrong password here") == 401
    assert api_login(client, "nobody@example.com", "wrong password here") == 401
    assert api_login(client, "gone@example.com", PASSWORD) == 401
    rows = logged_attempts()
    inactive_id = User.objects.get(email="gone@example.com").pk
    assert [(r.email, r.user_id, r.ip, r.outcome, r.source) for r in rows] == [
        ("member@example.com", user.pk, "198.51.100.7", "success", "api"),
        ("member@example.com", user.pk, "198.51.100.7", "bad_credentials", "api"),
        ("nobody@example.com", None, "198.51.100.7", "bad_credentials", "api"),
        ("gone@example.com", inactive_id, "198.51.100.7", "inactive", "api"),
    ]


def test_an_inactive_account_with_a_wrong_password_is_a_bad_credentials_attempt(client: Client) -> None:
    User.objects.create_user("gone@example.com", PASSWORD, is_active=False)
    assert api_login(client, "gone@example.com", "wrong password here") == 401
    assert [r.outcome for r in logged_attempts()] == ["bad_credentials"]


@override_settings(THROTTLE_ACCOUNT_IP=(1, 900), THROTTLE_ACCOUNT=(0, 0), THROTTLE_IP=(0, 0))
def test_throttled_attempts_are_recorded(client: Client) -> None:
    User.objects.create_user("member@example.com", PASSWORD)
    assert api_login(client, "member@example.com", "wrong password here") == 401
    assert api_login(client, "member@example.com", PASSWORD) == 429
    assert [r.outcome for r in logged_attempts()] == ["bad_credentials", "throttled"]


@override_settings(HASH_WORKERS=1, HASH_QUEUE_LIMIT=0)
def test_overloaded_attempts_are_recorded() -> None:
    User.objects.create_user("member@example.com", PASSWORD)
    release = threading.Event()
    busy = passwords.get_pool().submit(release.wait)  # the only slot is taken
    try:
        attempt = services.login_attempt("member@example.com", PASSWORD, "10.0.0.1")
        with pytest.raises(Overloaded):
            async_to_sync(services.aauthenticate)(attempt, PASSWORD)
        with pytest.raises(Overloaded):
            services.authenticate(attempt, PASSWORD)
    finally:
        release.set()
        busy.result()
    assert [(r.outcome, r.source) for r in logged_attempts()] == [("overloaded", "api"), ("overloaded", "admin")]


def test_the_admin_login_is_recorded(client: Client) -> None:
    User.objects.create_superuser("staff@example.com", PASSWORD)
    client.post("/admin/login/", {"username": "staff@example.com", "password": "wrong password here"}, secure=True)
    client.post("/admin/login/", {"username": "staff@example.com", "password": PASSWORD}, secure=True)
    assert [(r.outcome, r.source) for r in logged_attempts()] == [("bad_credentials", "admin"), ("success", "admin")]


def test_a_login_writes_no_audit_row_itself(client: Client) -> None:
    User.objects.create_user("member@example.com", PASSWORD)
    with CaptureQueriesContext(connection) as queries:
        assert api_login(client, "member@example.com", "wrong password here") == 401
    table = LoginAttempt._meta.db_table
    assert not [q for q in queries.captured_queries if table in q["sql"]]
    assert attempts.pending() == 1 and not LoginAttempt.objects.exists()
    assert attempts.flush() == 1 and LoginAttempt.objects.count() == 1
    assert attempts.flush() == 0


@override_settings(LOGIN_ATTEMPT_BUFFER_LIMIT=3)
def test_the_buffer_keeps_the_newest_rows_up_to_its_bound() -> None:
    for n in range(5):
        attempts.record(f"user{n}@example.com", "10.0.0.1", LoginAttempt.BAD_CREDENTIALS, "api")
    assert attempts.pending() == 3
    assert [r.email for r in logged_attempts()] == ["user2@example.com", "user3@example.com", "user4@example.com"]


def test_outcomes_of_other_errors_are_not_attempt_outcomes() -> None:
    assert attempts.outcome_of(InvalidCredentials()) == "bad_credentials"
    assert attempts.outcome_of(TooManyAttempts(3)) == "throttled"
    assert attempts.outcome_of(Overloaded()) == "overloaded"
    assert attempts.outcome_of(ConnectionError()) is None


@override_settings(LOGIN_ATTEMPT_RETENTION_DAYS=30)
def test_the_periodic_purge_applies_the_retention() -> None:
    now = timezone.now()
    old = LoginAttempt.objects.create(at=now - timedelta(days=31), email="a@example.com", outcome="success",
                                      source="api")
    kept = LoginAttempt.objects.create(at=now - timedelta(days=29), email="b@example.com", outcome="success",
                                       source="api")
    tasks.purge_expired_counters()
    assert list(LoginAttempt.objects.all()) == [kept]
    assert not LoginAttempt.objects.filter(pk=old.pk).exists()


def test_deleting_a_user_keeps_their_attempts_without_the_link(client: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    assert api_login(client, "member@example.com", PASSWORD) == 200
    attempts.flush()
    user.delete()
    row = LoginAttempt.objects.get()
    assert row.user_id is None and row.email == "member@example.com"
