"""Failed-login, signup and password-change throttling, on Redis and on the database."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.test import Client, override_settings

from accounts import throttling
from accounts.models import ThrottleCounter, User
from authsite.kit import stores
from tests.support.argon2_spy import Argon2Spy, argon2_spy  # noqa: F401
from tests.support.counting import count_calls
from tests.support.tokens import issue_pair

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase 42"
WRONG = "wrong horse battery staple!"
LOGIN = "/api/v1/auth/login"
SIGNUP = "/api/v1/auth/signup"
OFF = (0, 0)


def login(client: Client, email: str, password: str, ip: str = "10.0.0.1", **extra: Any) -> Any:
    return client.post(LOGIN, json.dumps({"email": email, "password": password}),
                       content_type="application/json", REMOTE_ADDR=ip, **extra)


def make_user(email: str = "victim@example.com", **extra: Any) -> User:
    return User.objects.create_user(email, PASSWORD, **extra)


def assert_throttled(response: Any, window: int) -> int:
    assert response.status_code == 429, response.content
    assert response.json() == {"error": "too_many_attempts", "message": "Too many attempts. Try again later."}
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= window
    return retry_after


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(5, 900), THROTTLE_ACCOUNT=OFF, THROTTLE_IP=OFF)
def test_account_ip_limit_refuses_even_the_right_password_without_hashing(
        client: Client, store: str, argon2_spy: Argon2Spy) -> None:
    make_user()
    for _ in range(5):
        assert login(client, "victim@example.com", WRONG).status_code == 401
    argon2_spy.reset()
    assert_throttled(login(client, "victim@example.com", PASSWORD), 900)
    assert_throttled(login(client, "victim@example.com", WRONG), 900)
    assert argon2_spy.calls == []  # a throttled attempt costs no hash
    # Another address is not affected by the account+IP counter.
    assert login(client, "victim@example.com", PASSWORD, ip="10.0.0.2").status_code == 200


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(5, 900), THROTTLE_ACCOUNT=OFF, THROTTLE_IP=OFF)
def test_email_variants_share_one_counter(client: Client, store: str) -> None:
    make_user()
    variants = ["victim@example.com", "Victim@Example.COM", "  VICTIM@example.com\t",
                "ｖｉｃｔｉｍ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ＶＩＣＴＩＭ@EXAMPLE.com"]
    for variant in variants:
        assert login(client, variant, WRONG).status_code == 401
    assert_throttled(login(client, "victim@EXAMPLE.com", PASSWORD), 900)


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(3, 900), THROTTLE_ACCOUNT=OFF, THROTTLE_IP=OFF)
def test_success_clears_the_account_ip_counter(client: Client, store: str) -> None:
    make_user()
    for _ in range(2):
        assert login(client, "victim@example.com", WRONG).status_code == 401
    assert login(client, "victim@example.com", PASSWORD).status_code == 200
    for _ in range(3):  # the earlier two failures are forgotten
        assert login(client, "victim@example.com", WRONG).status_code == 401
    assert_throttled(login(client, "victim@example.com", WRONG), 900)


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=OFF, THROTTLE_ACCOUNT=(3, 900), THROTTLE_IP=(3, 900))
def test_successful_logins_are_not_counted(client: Client, store: str) -> None:
    make_user()
    for _ in range(6):
        assert login(client, "victim@example.com", PASSWORD).status_code == 200


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=OFF, THROTTLE_ACCOUNT=(3, 900), THROTTLE_IP=OFF)
def test_account_limit_spans_addresses(client: Client, store: str) -> None:
    make_user()
    for i in range(3):
        assert login(client, "victim@example.com", WRONG, ip=f"10.0.1.{i}").status_code == 401
    assert_throttled(login(client, "victim@example.com", PASSWORD, ip="10.0.1.99"), 900)
    assert login(client, "other@example.com", WRONG, ip="10.0.1.99").status_code == 401


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=OFF, THROTTLE_ACCOUNT=OFF, THROTTLE_IP=(3, 600))
def test_ip_limit_spans_accounts(client: Client, store: str) -> None:
    make_user()
    for i in range(3):
        assert login(client, f"guess{i}@example.com", WRONG).status_code == 401
    assert_throttled(login(client, "victim@example.com", PASSWORD), 600)
    assert login(client, "victim@example.com", PASSWORD, ip="10.0.0.2").status_code == 200


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=OFF, THROTTLE_ACCOUNT=OFF, THROTTLE_IP=OFF)
def test_a_zero_limit_disables_throttling(client: Client, store: str) -> None:
    make_user()
    for _ in range(12):
        assert login(client, "victim@example.com", WRONG).status_code == 401
    assert login(client, "victim@example.com", PASSWORD).status_code == 200


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(2, 2), THROTTLE_ACCOUNT=OFF, THROTTLE_IP=OFF)
def test_login_succeeds_once_retry_after_has_passed(client: Client, store: str) -> None:
    make_user()
    for _ in range(2):
        assert login(client, "victim@example.com", WRONG).status_code == 401
    retry_after = assert_throttled(login(client, "victim@example.com", PASSWORD), 2)
    time.sleep(retry_after)
    # The window said it would be over: it is.
    assert login(client, "victim@example.com", PASSWORD).status_code == 200


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_ACCOUNT=OFF, THROTTLE_IP=OFF)
def test_counters_live_in_the_selected_store(client: Client, store: str) -> None:
    for _ in range(2):
        login(client, "victim@example.com", WRONG)
    key = throttling.account_ip_key("victim@example.com", "10.0.0.1")
    if store == "database":
        assert ThrottleCounter.objects.get(key=key).count == 2
    else:
        assert int(stores.client().get(key)) == 2  # type: ignore[union-attr]
        assert 0 < stores.client().ttl(key) <= 900  # type: ignore[union-attr]
        assert not ThrottleCounter.objects.exists()
    assert "victim" not in key and "10.0.0.1" not in key  # no email or address in clear


# --- Client address ---

@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(3, 900), THROTTLE_ACCOUNT=OFF, THROTTLE_IP=OFF, TRUSTED_PROXY_COUNT=0)
def test_forged_forwarded_for_changes_nothing_without_trusted_proxies(client: Client) -> None:
    make_user()
    for i in range(3):
        r = login(client, "victim@example.com", WRONG, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
        assert r.status_code == 401
    r = login(client, "victim@example.com", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.77")
    assert_throttled(r, 900)


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(3, 900), THROTTLE_ACCOUNT=OFF, THROTTLE_IP=OFF, TRUSTED_PROXY_COUNT=1)
def test_one_trusted_proxy_uses_the_address_it_appended(client: Client) -> None:
    make_user()
    # The client forges a first entry; the trusted proxy appends the real peer 198.51.100.7.
    for i in range(3):
        r = login(client, "victim@example.com", WRONG, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}, 198.51.100.7")
        assert r.status_code == 401
    assert_throttled(login(client, "victim@example.com", PASSWORD,
                           HTTP_X_FORWARDED_FOR="203.0.113.99, 198.51.100.7"), 900)
    # Other real clients behind the same proxy are separate.
    assert login(client, "victim@example.com", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 200


@pytest.mark.server
def test_forged_forwarded_for_through_real_uvicorn(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    make_user()
    with live_server_factory(THROTTLE_ACCOUNT_IP="3/900", THROTTLE_ACCOUNT="0/0", THROTTLE_IP="0/0") as base:
        statuses = []
        for i in range(5):
            r = httpx.post(f"{base}{LOGIN}", json={"email": "victim@example.com", "password": WRONG},
                           headers={"X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": f"203.0.113.{i}"},
                           timeout=30)
            statuses.append(r.status_code)
    assert statuses == [401, 401, 401, 429, 429]


# --- Atomicity: parallel guesses cannot overshoot a limit ---

@pytest.mark.server
@pytest.mark.parametrize("redis", [True, False], ids=["redis", "database"])
def test_parallel_guesses_cannot_overshoot(live_server_factory, redis: bool) -> None:  # type: ignore[no-untyped-def]
    make_user()
    env = {"THROTTLE_ACCOUNT_IP": "3/900", "THROTTLE_ACCOUNT": "0/0", "THROTTLE_IP": "0/0",
           "HASH_WORKERS": "2", "HASH_QUEUE_LIMIT": "32"}
    if not redis:
        env["REDIS_URL"] = ""  # the database store
    with live_server_factory(workers=2, **env) as base:
        def guess(_: int) -> int:
            with httpx.Client() as http:  # a new connection each: both workers take part
                return http.post(f"{base}{LOGIN}", json={"email": "victim@example.com", "password": WRONG},
                                 timeout=60).status_code

        with ThreadPoolExecutor(12) as pool:
            counts = Counter(pool.map(guess, range(12)))
    assert counts == {401: 3, 429: 9}, counts


# --- Signup ---

@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=OFF, THROTTLE_ACCOUNT=OFF, THROTTLE_IP=(2, 900))
def test_signup_is_throttled_per_ip(client: Client, store: str) -> None:
    def signup(email: str, ip: str) -> Any:
        return client.post(SIGNUP, json.dumps({"email": email, "password": PASSWORD}),
                           content_type="application/json", REMOTE_ADDR=ip)

    assert signup("first@example.com", "10.0.0.1").status_code == 201
    assert signup("FIRST@example.com", "10.0.0.1").status_code == 409
    assert_throttled(signup("second@example.com", "10.0.0.1"), 900)
    assert not User.objects.filter(email="second@example.com").exists()
    assert signup("second@example.com", "10.0.0.2").status_code == 201


# --- Password change ---

@pytest.mark.django_db
def test_password_change_with_wrong_current_passwords_is_throttled(  # type: ignore[no-untyped-def]
        client: Client, user: User, settings) -> None:
    settings.THROTTLE_ACCOUNT_IP = (2, 900)
    pair = issue_pair(user)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {pair.access_token}"}
    statuses = [client.post("/api/v1/auth/password", {"current_password": f"wrong guess number {i}",
                                                       "new_password": NEW_PASSWORD},
                            content_type="application/json", **auth).status_code for i in range(3)]
    assert statuses == [400, 400, 429]

def test_ipv6_addresses_of_one_64_share_counters() -> None:
    a, b = "2001:db8:1:2::1", "2001:db8:1:2:ffff::9"
    assert throttling.ip_key(a) == throttling.ip_key(b)
    assert throttling.ip_key(a) != throttling.ip_key("2001:db8:1:3::1")
    assert throttling.ip_key("::ffff:10.0.0.1") == throttling.ip_key("10.0.0.1")
    assert throttling.ip_key("10.0.0.1") != throttling.ip_key("10.0.0.2")


def _scripts_sent_by_a_login(email: str) -> int:
    """Log in once through the service on a fresh loop; the throttle scripts it sent to Redis."""
    import asyncio

    from accounts import services

    async def run() -> int:
        sent = count_calls(stores.aclient(), "evalsha")
        await services.aauthenticate(services.login_attempt(email, PASSWORD, "10.0.0.1"), PASSWORD)
        return sent[0]

    return asyncio.run(run())


@pytest.mark.django_db(transaction=True)
@override_settings(THROTTLE_ACCOUNT_IP=OFF, THROTTLE_ACCOUNT=OFF, THROTTLE_IP=OFF)
def test_with_every_limit_off_a_login_asks_redis_nothing_about_throttles() -> None:
    make_user()
    assert _scripts_sent_by_a_login("victim@example.com") == 0


@pytest.mark.django_db(transaction=True)
@override_settings(THROTTLE_ACCOUNT_IP=(3, 900), THROTTLE_ACCOUNT=OFF, THROTTLE_IP=OFF)
def test_a_successful_login_counts_and_clears_in_two_scripts() -> None:
    make_user()
    assert _scripts_sent_by_a_login("victim@example.com") == 2  # acquire, then release + forget
    # Forgotten, not merely decremented: the counter in force is gone.
    assert stores.client().exists(throttling.account_ip_key("victim@example.com", "10.0.0.1")) == 0  # type: ignore[union-attr]
