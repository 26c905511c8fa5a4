"""`manage.py unlock_account EMAIL [--ip IP]` (issue 3), on Redis and on the database."""

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
        for _ in range(2):
            assert login(client, "victim@example.com", WRONG, ip) == 401
    for _ in range(2):
        assert login(client, "bystander@example.com", WRONG, "10.0.0.1") == 401
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
    for _ in range(2):
        assert login(client, "someone@example.com", WRONG, "10.0.0.9") == 401
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
