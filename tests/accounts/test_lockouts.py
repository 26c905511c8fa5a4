"""Who is locked out now (accounts/lockouts.py): counters at their limit, with whom they count,
from Redis and from the database; unlock clears them."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from accounts import lockouts, throttling
from accounts.models import ThrottleCounter, User
from authsite.kit import stores

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def login(client: Client, email: str, password: str, ip: str) -> int:
    return client.post("/api/v1/auth/login", {"email": email, "password": password},
                       content_type="application/json", REMOTE_ADDR=ip).status_code


@override_settings(THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_ACCOUNT=(3, 900), THROTTLE_IP=(4, 900))
def test_every_kind_of_lockout_is_listed_with_whom_it_counts(client: Client, store: str) -> None:
    User.objects.create_user("victim@example.com", PASSWORD)
    assert lockouts.current() == []
    for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.2"):
        login(client, "victim@example.com", "wrong password here", ip)
    login(client, "someone@example.com", "wrong password here", "10.0.0.1")
    login(client, "another@example.com", "wrong password here", "10.0.0.1")
    found = {(lock.kind, lock.email, lock.ip, lock.count, lock.limit, lock.store) for lock in lockouts.current()}
    assert found == {
        ("account_ip", "victim@example.com", "10.0.0.1", 2, 2, store),
        ("account", "victim@example.com", "", 3, 3, store),
        ("ip", "", "10.0.0.1", 4, 4, store),
    }
    for lock in lockouts.current():
        assert 0 < lock.seconds_left <= 900
    assert lockouts.describe(throttling.label("account_ip", "victim@example.com", "10.0.0.1")) == \
        "victim@example.com from 10.0.0.1"


@override_settings(THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_ACCOUNT=(0, 0), THROTTLE_IP=(0, 0))
def test_unlock_by_key_clears_the_lockout(client: Client, store: str) -> None:
    User.objects.create_user("victim@example.com", PASSWORD)
    for _ in range(2):
        login(client, "victim@example.com", "wrong password here", "10.0.0.1")
    assert login(client, "victim@example.com", PASSWORD, "10.0.0.1") == 429
    (lock,) = lockouts.current()
    assert lockouts.unlock([lock.key, "not-a-counter"]) == 1
    assert lockouts.current() == []
    assert login(client, "victim@example.com", PASSWORD, "10.0.0.1") == 200


@override_settings(THROTTLE_ACCOUNT_IP=(0, 0), THROTTLE_ACCOUNT=(2, 900), THROTTLE_IP=(0, 0))
def test_a_counter_released_below_its_limit_leaves_the_list(client: Client) -> None:
    if not stores.enabled():
        pytest.skip("REDIS_URL is not set")
    User.objects.create_user("victim@example.com", PASSWORD)
    for _ in range(2):
        login(client, "victim@example.com", "wrong password here", "10.0.0.1")
    assert [lock.kind for lock in lockouts.current()] == ["account"]
    stores.client().set(throttling.account_key("victim@example.com"), 1, keepttl=True)  # type: ignore[union-attr]
    assert lockouts.current() == []
    assert not stores.client().hexists(throttling.LOCKED_INDEX, throttling.account_key("victim@example.com"))  # type: ignore[union-attr]


@override_settings(THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_ACCOUNT=(0, 0), THROTTLE_IP=(0, 0), REDIS_URL="")
def test_database_counters_below_their_limit_are_not_lockouts(client: Client) -> None:
    User.objects.create_user("victim@example.com", PASSWORD)
    login(client, "victim@example.com", "wrong password here", "10.0.0.1")
    row = ThrottleCounter.objects.get()
    assert row.count == 1 and row.label == ""  # no one is named before the limit
    assert lockouts.current() == []
    login(client, "victim@example.com", "wrong password here", "10.0.0.1")
    row.refresh_from_db()
    assert "victim@example.com" in row.label


@override_settings(THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_ACCOUNT=(0, 0), THROTTLE_IP=(0, 0))
def test_a_known_clients_own_lockout_is_listed_with_the_account(store: str) -> None:
    from accounts import known_clients, services
    from accounts.exceptions import InvalidCredentials

    victim = User.objects.create_user("victim@example.com", PASSWORD)
    token = known_clients.issue("victim@example.com", victim.password)
    for _ in range(2):
        attempt = services.login_attempt("victim@example.com", "wrong password here", "10.0.0.9", token)
        with pytest.raises(InvalidCredentials):
            services.authenticate(attempt, "wrong password here")
    assert [(lock.kind, lock.email, lock.ip, lock.store) for lock in lockouts.current()] == [
        ("known_client", "victim@example.com", "10.0.0.9", store)]
    assert lockouts.current()[0].description == "account from one known client"
