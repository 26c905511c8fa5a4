"""The lockout attack, through real uvicorn: with the default limits, 5 failures from each of
10 addresses lock an account. The owner's client, which logged in before and holds its
known-client token, still gets in; unknown clients stay locked out, and guesses made with a
known-client token are limited per client."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client, override_settings

from accounts.models import User

PASSWORD = "correct horse battery staple"
WRONG = "not the password at all"
EMAIL = "owner@example.com"
A = "/api/v1/auth"


def _login(http: httpx.Client, ip: str, password: str, client_token: str | None = None) -> httpx.Response:
    body = {"email": EMAIL, "password": password}
    if client_token is not None:
        body["client_token"] = client_token
    return http.post(f"{A}/login", json=body, headers={"X-Forwarded-For": ip})


@pytest.mark.server
def test_strangers_cannot_lock_the_owner_out(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user(EMAIL, PASSWORD)
    User.objects.create_user("attacker@example.com", PASSWORD)
    with live_server_factory(TRUSTED_PROXY_COUNT="1") as server, httpx.Client(base_url=server, timeout=60) as http:
        owner = _login(http, "198.51.100.7", PASSWORD)
        assert owner.status_code == 200
        token = owner.json()["client_token"]
        attackers_own = http.post(f"{A}/login", json={"email": "attacker@example.com", "password": PASSWORD},
                                  headers={"X-Forwarded-For": "203.0.113.200"}).json()["client_token"]
        # The attack: 5 failures from each of 10 addresses.
        for host in range(1, 11):
            for _ in range(5):
                assert _login(http, f"203.0.113.{host}", WRONG).status_code == 401
        # The account is locked for every unknown client, even with the right password...
        assert _login(http, "192.0.2.50", PASSWORD).status_code == 429
        assert _login(http, "192.0.2.51", PASSWORD, attackers_own).status_code == 429  # another account's token
        assert _login(http, "192.0.2.52", PASSWORD, token[:-2] + "xx").status_code == 429  # a forged one
        # ...but not for the owner's known client, from anywhere.
        again = _login(http, "192.0.2.99", PASSWORD, token)
        assert again.status_code == 200, again.text
        token = again.json()["client_token"]
        # Guesses with a known-client token are limited per client (THROTTLE_ACCOUNT_IP numbers).
        for _ in range(5):
            assert _login(http, "192.0.2.99", WRONG, token).status_code == 401
        assert _login(http, "192.0.2.99", PASSWORD, token).status_code == 429


@pytest.mark.django_db
@override_settings(TRUSTED_PROXY_COUNT=1, THROTTLE_ACCOUNT=(3, 900))
def test_staff_with_a_known_browser_get_into_the_admin_during_an_attack() -> None:
    User.objects.create_superuser("boss@example.com", PASSWORD)
    browser = Client()
    first = browser.post("/admin/login/?next=/admin/", {"username": "boss@example.com", "password": PASSWORD},
                         secure=True)
    assert first.status_code == 302
    assert "authsite_client" in first.cookies and first.cookies["authsite_client"]["httponly"]
    browser.post("/admin/logout/", secure=True)
    attacker = Client()
    for host in range(1, 4):
        attacker.post(f"{A}/login", {"email": "boss@example.com", "password": WRONG},
                      content_type="application/json", HTTP_X_FORWARDED_FOR=f"203.0.113.{host}")
    locked = attacker.post("/admin/login/?next=/admin/", {"username": "boss@example.com", "password": PASSWORD},
                           secure=True, HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert "temporarily locked" in locked.content.decode()
    known = browser.post("/admin/login/?next=/admin/", {"username": "boss@example.com", "password": PASSWORD},
                         secure=True, HTTP_X_FORWARDED_FOR="192.0.2.2")
    assert known.status_code == 302, known.content[:300]
