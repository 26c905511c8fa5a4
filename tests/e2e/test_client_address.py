"""The client address used for throttling and stored on sessions, through real uvicorn: always
an IP literal, and only TRUSTED_PROXY_COUNT decides which header entry counts, even when uvicorn
itself was told to rewrite the peer from X-Forwarded-For (FORWARDED_ALLOW_IPS='*')."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from accounts.models import User
from tokens.models import Session

PASSWORD = "correct horse battery staple"
A = "/api/v1/auth"

pytestmark = pytest.mark.server


def test_a_client_cannot_pick_a_new_address_per_attempt_through_a_port(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user("owner@example.com", PASSWORD)
    with live_server_factory(proxy_headers=True, THROTTLE_IP="3/900") as server, \
            httpx.Client(base_url=server, timeout=30) as http:
        answers = []
        for i in range(1, 6):
            response = http.post(f"{A}/login", json={"email": f"guess{i}@example.com", "password": "wrong guess"},
                                 headers={"X-Forwarded-For": f"203.0.113.{i}:1"})
            answers.append(response.status_code)
        assert answers == [401, 401, 401, 429, 429]
        login = http.post(f"{A}/login", json={"email": "owner@example.com", "password": PASSWORD},
                          headers={"X-Forwarded-For": "evil"})
        assert login.status_code == 429  # the same shared bucket: no header picks a new one
    assert not Session.objects.exists()


def test_the_session_stores_an_ip_literal_whatever_the_header_says(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user("owner@example.com", PASSWORD)
    with live_server_factory(proxy_headers=True) as server, httpx.Client(base_url=server, timeout=30) as http:
        for forwarded in ("evil", "203.0.113.9:1", "[2001:db8::1]:443"):
            response = http.post(f"{A}/login", json={"email": "owner@example.com", "password": PASSWORD},
                                 headers={"X-Forwarded-For": forwarded})
            assert response.status_code == 200, response.text
    stored = list(Session.objects.values_list("ip", flat=True))
    assert len(stored) == 3
    for ip in stored:
        ipaddress.ip_address(ip)
    assert set(stored) == {"0.0.0.0"}


def test_a_trusted_proxy_entry_with_a_port_is_stored_as_its_address(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user("owner@example.com", PASSWORD)
    with live_server_factory(proxy_headers=True, TRUSTED_PROXY_COUNT="1") as server, \
            httpx.Client(base_url=server, timeout=30) as http:
        response = http.post(f"{A}/login", json={"email": "owner@example.com", "password": PASSWORD},
                             headers={"X-Forwarded-For": "forged, 198.51.100.7:4711"})
        assert response.status_code == 200, response.text
    assert list(Session.objects.values_list("ip", flat=True)) == ["198.51.100.7"]
