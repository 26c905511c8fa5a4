"""`manage.py unlock_account [EMAIL] [--ip IP]`, on Redis and on the database."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from accounts.models import ThrottleCounter, User

PASSWORD = "correct horse battery staple"
WRONG = "wrong horse battery staple!"


def login(client: Client, email: str, password: str, ip: str) -> int:
    return client.post("/api/v1/auth/login", json.dumps({"email": email, "password": password}),
                       content_type="application/json", REMOTE_ADDR=ip).status_code


def fail(client: Client, email: str, ip: str, times: int = 2) -> None:
    """`times` wrong-password logins, each answered 401."""
    for _ in range(times):
        assert login(client, email, WRONG, ip) == 401


def unlock(*args: str) -> str:
    out = StringIO()
    call_command("unlock_account", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def users(db: None) -> None:
    User.objects.create_user("victim@example.com", PASSWORD)
    User.objects.create_user("bystander@example.com", PASSWORD)


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_ACCOUNT=(4, 900), THROTTLE_IP=(0, 0))
def test_unlock_clears_the_account_everywhere(client: Client, users: None, store: str) -> None:
    for ip in ("10.0.0.1", "10.0.0.2"):
        fail(client, "victim@example.com", ip)
    fail(client, "bystander@example.com", "10.0.0.1")
    assert login(client, "victim@example.com", PASSWORD, "10.0.0.1") == 429  # account+IP
    assert login(client, "victim@example.com", PASSWORD, "10.0.0.3") == 429  # account

    output = unlock("  VICTIM@Example.com ")  # any form of the address
    assert "victim@example.com" in output and "removed 3 counter(s)" in output

    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert login(client, "victim@example.com", PASSWORD, ip) == 200
    # Another account's counters are untouched.
    assert login(client, "bystander@example.com", PASSWORD, "10.0.0.1") == 429


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(0, 0), THROTTLE_ACCOUNT=(0, 0), THROTTLE_IP=(2, 900))
def test_unlock_with_ip_clears_that_address(client: Client, users: None, store: str) -> None:
    fail(client, "someone@example.com", "10.0.0.9")
    assert login(client, "victim@example.com", PASSWORD, "10.0.0.9") == 429
    unlock("victim@example.com")
    assert login(client, "victim@example.com", PASSWORD, "10.0.0.9") == 429  # the IP limit stays
    unlock("victim@example.com", "--ip", "10.0.0.9")
    assert login(client, "victim@example.com", PASSWORD, "10.0.0.9") == 200


@pytest.mark.django_db
def test_unlock_clears_database_counters_left_by_a_redis_outage(client: Client, users: None) -> None:
    with override_settings(REDIS_URL="", THROTTLE_ACCOUNT_IP=(1, 900)):
        assert login(client, "victim@example.com", WRONG, "10.0.0.1") == 401
    assert ThrottleCounter.objects.exists()
    unlock("victim@example.com", "--ip", "10.0.0.1")
    assert not ThrottleCounter.objects.exists()


@pytest.mark.django_db
def test_unknown_account_and_bad_ip(users: None) -> None:
    err = StringIO()
    call_command("unlock_account", "ghost@example.com", stdout=StringIO(), stderr=err)
    assert "no account" in err.getvalue()
    with pytest.raises(CommandError, match="not an IP address"):
        unlock("victim@example.com", "--ip", "10.0.0.999")


def signup(client: Client, email: str, ip: str) -> int:
    return client.post("/api/v1/auth/signup", json.dumps({"email": email, "password": PASSWORD}),
                       content_type="application/json", REMOTE_ADDR=ip).status_code


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(0, 0), THROTTLE_ACCOUNT=(0, 0), THROTTLE_IP=(2, 900))
def test_unlock_by_ip_alone_clears_that_address_login_and_signup_counters(
        client: Client, users: None, store: str) -> None:
    for ip in ("10.0.0.9", "10.0.0.8"):
        fail(client, "someone@example.com", ip)
    assert signup(client, "new1@example.com", "10.0.0.9") == 201
    assert signup(client, "new2@example.com", "10.0.0.9") == 201
    assert login(client, "victim@example.com", PASSWORD, "10.0.0.9") == 429
    assert signup(client, "new3@example.com", "10.0.0.9") == 429

    output = unlock("--ip", " 10.0.0.9 ")
    assert output.strip() == "Unlocked address 10.0.0.9: removed 2 counter(s)."

    assert login(client, "victim@example.com", PASSWORD, "10.0.0.9") == 200
    assert signup(client, "new3@example.com", "10.0.0.9") == 201
    # Another address keeps its counters.
    assert login(client, "victim@example.com", PASSWORD, "10.0.0.8") == 429


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(0, 0), THROTTLE_ACCOUNT=(2, 900), THROTTLE_IP=(0, 0))
def test_unlock_by_ip_alone_leaves_account_counters(client: Client, users: None, store: str) -> None:
    fail(client, "victim@example.com", "10.0.0.1")
    assert "removed 0 counter(s)" in unlock("--ip", "10.0.0.1")
    assert login(client, "victim@example.com", PASSWORD, "10.0.0.1") == 429
    unlock("victim@example.com")
    assert login(client, "victim@example.com", PASSWORD, "10.0.0.1") == 200


@pytest.mark.django_db
def test_unlock_by_ip_alone_clears_database_counters_left_by_a_redis_outage(client: Client, users: None) -> None:
    with override_settings(REDIS_URL="", THROTTLE_ACCOUNT_IP=(0, 0), THROTTLE_ACCOUNT=(0, 0), THROTTLE_IP=(1, 900)):
        assert login(client, "someone@example.com", WRONG, "10.0.0.1") == 401
        assert login(client, "victim@example.com", PASSWORD, "10.0.0.1") == 429
    assert ThrottleCounter.objects.exists()
    assert "removed 1 counter(s)" in unlock("--ip", "10.0.0.1")
    assert not ThrottleCounter.objects.exists()


@pytest.mark.django_db
def test_neither_email_nor_ip_is_refused(users: None) -> None:
    with pytest.raises(CommandError, match="give an EMAIL, --ip IP, or both"):
        unlock()
    with pytest.raises(CommandError, match="EMAIL is empty"):
        unlock("   ")
    with pytest.raises(CommandError, match="not an IP address"):
        unlock("--ip", "")
