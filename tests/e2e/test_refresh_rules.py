"""Refresh through real uvicorn + PostgreSQL: a per-session limit, only the rows reuse detection
needs, a safe retry of a lost answer, reuse of a long-gone token, an absolute session age, and
consistent session timestamps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from accounts.models import User
from tokens.models import RefreshToken, Session
from tokens.services import digest_refresh_token

PASSWORD = "correct horse battery staple"
EMAIL = "refresher@example.com"
A = "/api/v1/auth"

pytestmark = pytest.mark.server


def login(http: httpx.Client) -> dict[str, Any]:
    response = http.post(f"{A}/login", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


def refresh(http: httpx.Client, token: str) -> httpx.Response:
    return http.post(f"{A}/refresh", json={"refresh_token": token})


def me(http: httpx.Client, pair: dict[str, Any]) -> int:
    return http.get(f"{A}/me", headers={"Authorization": f"Bearer {pair['access_token']}"}).status_code


def test_refresh_is_limited_per_session_and_keeps_only_the_rows_reuse_needs(  # type: ignore[no-untyped-def]
        live_server_factory) -> None:
    User.objects.create_user(EMAIL, PASSWORD)
    with live_server_factory(THROTTLE_REFRESH="3/900") as server, httpx.Client(base_url=server, timeout=30) as http:
        pair = login(http)
        other = login(http)
        for _ in range(3):
            response = refresh(http, pair["refresh_token"])
            assert response.status_code == 200, response.text
            pair = response.json()
        refused = refresh(http, pair["refresh_token"])
        assert refused.status_code == 429 and refused.json()["error"] == "too_many_attempts"
        assert 800 <= int(refused.headers["Retry-After"]) <= 901
        # The refused call used nothing up: the token is still the session's current one.
        session = Session.objects.get(pk=_sid(pair))
        assert session.revoked_at is None
        assert me(http, pair) == 200
        # One unused (current) and one used (the last rotated) row: not one per refresh.
        assert RefreshToken.objects.filter(session=session).count() == 2
        # The limit is per session.
        assert refresh(http, other["refresh_token"]).status_code == 200


def test_a_retried_refresh_whose_answer_was_lost_gets_a_new_pair(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user(EMAIL, PASSWORD)
    with live_server_factory() as server, httpx.Client(base_url=server, timeout=30) as http:
        first = login(http)
        lost = refresh(http, first["refresh_token"])
        assert lost.status_code == 200  # ...but the client never read it
        retry = refresh(http, first["refresh_token"])
        assert retry.status_code == 200, retry.text
        second = retry.json()
        assert me(http, second) == 200
        assert refresh(http, second["refresh_token"]).status_code == 200
        # The answer that was lost can never be used: presenting it is reuse, and ends the family.
        assert refresh(http, lost.json()["refresh_token"]).status_code == 401
        assert Session.objects.get(pk=_sid(first)).revoked_reason == "refresh_reuse"


def test_reusing_a_token_rotated_long_ago_still_ends_the_family(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user(EMAIL, PASSWORD)
    with live_server_factory(REFRESH_RETRY_GRACE="0") as server, httpx.Client(base_url=server, timeout=30) as http:
        stolen = login(http)
        current = stolen
        for _ in range(3):
            current = refresh(http, current["refresh_token"]).json()
        # Its row is gone (only the rows reuse detection needs are kept)...
        assert not RefreshToken.objects.filter(token_hash=digest_refresh_token(stolen["refresh_token"])).exists()
        # ...and it is still recognised as a token of this family.
        assert refresh(http, stolen["refresh_token"]).status_code == 401
        assert refresh(http, current["refresh_token"]).status_code == 401
        assert me(http, current) == 401


def test_no_refresh_extends_a_session_beyond_its_maximum_age(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user(EMAIL, PASSWORD)
    with live_server_factory(SESSION_MAX_AGE="3600") as server, httpx.Client(base_url=server, timeout=30) as http:
        pair = login(http)
        session = Session.objects.get(pk=_sid(pair))
        assert session.expires_at == session.created_at + timedelta(seconds=3600)
        pair = refresh(http, pair["refresh_token"]).json()
        session.refresh_from_db()
        assert session.expires_at == session.created_at + timedelta(seconds=3600)
        # The session was started just over an hour ago (moved back in time).
        Session.objects.filter(pk=session.pk).update(created_at=timezone.now() - timedelta(seconds=3601))
        refused = refresh(http, pair["refresh_token"])
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"


def test_a_new_session_was_last_used_when_it_was_created(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user(EMAIL, PASSWORD)
    with live_server_factory() as server, httpx.Client(base_url=server, timeout=30) as http:
        pair = login(http)
        listed = http.get(f"{A}/sessions", headers={"Authorization": f"Bearer {pair['access_token']}"}).json()
        (row,) = listed["sessions"]
        assert row["last_used_at"] == row["created_at"]


def _sid(pair: dict[str, Any]) -> str:
    import base64
    import json

    payload = pair["access_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]
