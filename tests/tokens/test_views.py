"""Token endpoints (tokens/views.py) through django.test.Client: login, refresh, logout,
logout-all, sessions."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any

import pytest
from django.test import Client, override_settings

from accounts import passwords
from accounts.models import User
from tests.support.client_api import (
    API,
    PASSWORD,
    HashSpy,
    assert_error,
    assert_invalid_token,
    assert_no_content,
    assert_validation_error,
    get,
    jwt_parts,
    login,
    post_json,
)
from tokens.models import Session

LOGIN = f"{API}/login"
REFRESH = f"{API}/refresh"
LOGOUT = f"{API}/logout"
LOGOUT_ALL = f"{API}/logout-all"
SESSIONS = f"{API}/sessions"
ME = f"{API}/me"

pytestmark = pytest.mark.django_db


def sid(pair: dict[str, Any]) -> str:
    return jwt_parts(pair["access_token"])[1]["sid"]


def alive(api: Client, pair: dict[str, Any]) -> bool:
    """Does the access token still work? (Its refresh token is checked by the callers that care.)"""
    status = get(api, ME, pair["access_token"]).status_code
    assert status in (200, 401)
    return status == 200


# --- login ---

def test_login_returns_a_token_pair(api: Client, user: User) -> None:
    response = post_json(api, LOGIN, {"email": "Alice@Example.com", "password": PASSWORD},
                         HTTP_USER_AGENT="pytest-agent/1.0")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "client_token"}
    assert body["token_type"] == "Bearer" and isinstance(body["expires_in"], int)
    session = Session.objects.get(pk=sid(body))
    assert session.user_id == user.pk and session.user_agent == "pytest-agent/1.0"
    assert session.ip == "127.0.0.1"


BAD_BODIES = [
    (b'{"email": "alice@example.com", "password": ', "application/json"),
    (b"[]", "application/json"),
    (b'"alice@example.com"', "application/json"),
    (b"null", "application/json"),
    (b"3.14", "application/json"),
    (b'{"email": "alice@example.com", "password": "correct horse battery staple"}', "text/plain"),
    (b"", "application/json"),
]


@pytest.mark.parametrize("path", [LOGIN, REFRESH])
@pytest.mark.parametrize("body, content_type", BAD_BODIES)
def test_bad_bodies_are_400(api: Client, user: User, path: str, body: bytes, content_type: str) -> None:
    assert_validation_error(api.post(path, body, content_type=content_type))


@pytest.mark.parametrize("data, fields", [
    ({}, {"email", "password"}),
    ({"email": "alice@example.com"}, {"password"}),
    ({"password": PASSWORD}, {"email"}),
    ({"email": 1, "password": PASSWORD}, {"email"}),
    ({"email": "alice@example.com", "password": ["x"]}, {"password"}),
    ({"email": {"$ne": ""}, "password": {"$ne": ""}}, {"email", "password"}),
])
def test_login_names_missing_and_mistyped_fields(api: Client, user: User, hash_spy: HashSpy,
                                                 data: dict[str, Any], fields: set[str]) -> None:
    assert_validation_error(post_json(api, LOGIN, data), *fields)
    assert hash_spy.total == 0


@pytest.mark.parametrize("data", [{}, {"refresh_token": None}, {"refresh_token": 1}, {"refresh_token": ["a"]}])
def test_refresh_names_missing_and_mistyped_fields(api: Client, data: dict[str, Any]) -> None:
    assert_validation_error(post_json(api, REFRESH, data), "refresh_token")


def test_login_answers_429_with_retry_after_without_hashing(api: Client, user: User, hash_spy: HashSpy) -> None:
    with override_settings(THROTTLE_ACCOUNT_IP=(2, 60)):
        for _ in range(2):
            assert_error(post_json(api, LOGIN, {"email": user.email, "password": "wrong wrong wrong"}),
                         401, "invalid_credentials")
        hash_spy.reset()
        response = post_json(api, LOGIN, {"email": user.email, "password": PASSWORD})
    assert_error(response, 429, "too_many_attempts")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert hash_spy.total == 0


def test_login_answers_503_with_retry_after_when_the_hash_pool_is_full(api: Client, user: User,
                                                                        hash_spy: HashSpy) -> None:
    with override_settings(HASH_WORKERS=1, HASH_QUEUE_LIMIT=0):
        release = threading.Event()
        busy = passwords.get_pool().submit(release.wait, 30)
        try:
            response = post_json(api, LOGIN, {"email": user.email, "password": PASSWORD})
        finally:
            release.set()
            busy.result(timeout=10)
        assert_error(response, 503, "overloaded")
        assert int(response["Retry-After"]) >= 1
        assert hash_spy.total == 0
        login(api, user.email)  # and once the pool has room, it works


@pytest.mark.parametrize("path, allowed", [
    (LOGIN, "POST"), (REFRESH, "POST"), (LOGOUT, "POST"), (LOGOUT_ALL, "POST"), (SESSIONS, "GET"),
    (f"{SESSIONS}/{uuid.uuid4()}", "DELETE"),
])
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_wrong_methods_are_405(api: Client, path: str, allowed: str, method: str) -> None:
    if method.upper() == allowed:
        return
    response = getattr(api, method)(path)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == allowed


# --- every Bearer path refuses a missing or bad token ---

BEARER_CALLS = [
    ("post", LOGOUT), ("post", LOGOUT_ALL), ("get", ME), ("post", f"{API}/password"), ("get", SESSIONS),
    ("delete", f"{SESSIONS}/{uuid.uuid4()}"),
]


@pytest.mark.parametrize("method, path", BEARER_CALLS)
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "bearer a.b.c"])
def test_bearer_paths_answer_401_with_a_challenge(api: Client, method: str, path: str, header: str | None) -> None:
    kwargs = {} if header is None else {"HTTP_AUTHORIZATION": header}
    assert_invalid_token(getattr(api, method)(path, **kwargs))


@pytest.mark.parametrize("method, path", BEARER_CALLS)
def test_bearer_paths_refuse_a_refresh_token(api: Client, tokens: dict[str, Any], method: str, path: str) -> None:
    assert_invalid_token(getattr(api, method)(path, HTTP_AUTHORIZATION=f"Bearer {tokens['refresh_token']}"))


# --- logout ---

def test_logout_without_a_body_ends_this_session(api: Client, user: User) -> None:
    mine, other = login(api, user.email), login(api, user.email)
    assert_no_content(post_json(api, LOGOUT, token=mine["access_token"]))
    assert not alive(api, mine)
    assert_invalid_token(post_json(api, REFRESH, {"refresh_token": mine["refresh_token"]}))
    assert alive(api, other)
    assert Session.objects.get(pk=sid(mine)).revoked_reason == "logout"


def test_logout_with_an_empty_json_object_ends_this_session(api: Client, tokens: dict[str, Any]) -> None:
    assert_no_content(post_json(api, LOGOUT, {}, token=tokens["access_token"]))
    assert not alive(api, tokens)


@pytest.mark.parametrize("value", [None, 42, ["x"]])
def test_logout_with_a_refresh_token_that_is_not_a_string_is_a_validation_error(
        api: Client, tokens: dict[str, Any], value: object) -> None:
    r = post_json(api, LOGOUT, {"refresh_token": value}, token=tokens["access_token"])
    assert r.status_code == 400 and r.json()["error"] == "validation_error"
    assert "refresh_token" in r.json()["fields"]
    assert alive(api, tokens)  # nothing ended: the request was refused whole


def test_logout_with_the_refresh_token_of_another_own_session_ends_both(api: Client, user: User) -> None:
    mine, other, third = (login(api, user.email) for _ in range(3))
    assert_no_content(post_json(api, LOGOUT, {"refresh_token": other["refresh_token"]}, token=mine["access_token"]))
    assert not alive(api, mine) and not alive(api, other)
    assert alive(api, third)


def test_logout_never_touches_someone_elses_session(api: Client, user: User) -> None:
    User.objects.create_user("bob@example.com", PASSWORD)
    mine, bobs = login(api, user.email), login(api, "bob@example.com")
    assert_no_content(post_json(api, LOGOUT, {"refresh_token": bobs["refresh_token"]}, token=mine["access_token"]))
    assert not alive(api, mine)
    assert alive(api, bobs)
    assert post_json(api, REFRESH, {"refresh_token": bobs["refresh_token"]}).status_code == 200


@pytest.mark.parametrize("data", [{"refresh_token": 5}, {"refresh_token": ["x"]}])
def test_logout_with_a_mistyped_refresh_token_is_400(api: Client, tokens: dict[str, Any], data: Any) -> None:
    assert_validation_error(post_json(api, LOGOUT, data, token=tokens["access_token"]), "refresh_token")


@pytest.mark.parametrize("body, content_type", [(b"[1]", "application/json"), (b"{", "application/json"),
                                                (b'{"refresh_token": "x"}', "text/plain")])
def test_logout_with_a_bad_body_is_400(api: Client, tokens: dict[str, Any], body: bytes, content_type: str) -> None:
    response = api.post(LOGOUT, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert_validation_error(response)


def test_logout_twice_is_401_the_second_time(api: Client, tokens: dict[str, Any]) -> None:
    assert_no_content(post_json(api, LOGOUT, token=tokens["access_token"]))
    assert_invalid_token(post_json(api, LOGOUT, token=tokens["access_token"]))


def test_logout_all_ends_every_session_of_the_caller_only(api: Client, user: User) -> None:
    User.objects.create_user("bob@example.com", PASSWORD)
    mine = [login(api, user.email) for _ in range(3)]
    bobs = login(api, "bob@example.com")
    assert_no_content(post_json(api, LOGOUT_ALL, token=mine[0]["access_token"]))
    for pair in mine:
        assert not alive(api, pair)
        assert_invalid_token(post_json(api, REFRESH, {"refresh_token": pair["refresh_token"]}))
    assert alive(api, bobs)
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()
    login(api, user.email)  # the account itself is fine


# --- sessions ---

def test_sessions_lists_live_sessions_and_marks_the_current_one(api: Client, user: User) -> None:
    User.objects.create_user("bob@example.com", PASSWORD)
    login(api, "bob@example.com")
    first = login(api, user.email, HTTP_USER_AGENT="phone")
    second = login(api, user.email, HTTP_USER_AGENT="laptop")
    ended = login(api, user.email)
    assert_no_content(post_json(api, LOGOUT, token=ended["access_token"]))
    response = get(api, SESSIONS, second["access_token"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    rows = response.json()["sessions"]
    assert {row["id"] for row in rows} == {sid(first), sid(second)}
    by_id = {row["id"]: row for row in rows}
    assert by_id[sid(second)]["current"] is True and by_id[sid(first)]["current"] is False
    assert by_id[sid(first)]["user_agent"] == "phone" and by_id[sid(second)]["user_agent"] == "laptop"
    for row in rows:
        assert set(row) == {"id", "created_at", "last_used_at", "ip", "user_agent", "current"}
        datetime.fromisoformat(row["created_at"])
        datetime.fromisoformat(row["last_used_at"])
        assert row["ip"] == "127.0.0.1"


def test_deleting_an_own_session_ends_its_tokens(api: Client, user: User) -> None:
    mine, other = login(api, user.email), login(api, user.email)
    assert_no_content(api.delete(f"{SESSIONS}/{sid(other)}", HTTP_AUTHORIZATION=f"Bearer {mine['access_token']}"))
    assert not alive(api, other)
    assert_invalid_token(post_json(api, REFRESH, {"refresh_token": other["refresh_token"]}))
    assert alive(api, mine)
    rows = get(api, SESSIONS, mine["access_token"]).json()["sessions"]
    assert [row["id"] for row in rows] == [sid(mine)]


def test_deleting_the_current_session_ends_its_tokens(api: Client, tokens: dict[str, Any]) -> None:
    assert_no_content(api.delete(f"{SESSIONS}/{sid(tokens)}", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}"))
    assert not alive(api, tokens)


@pytest.mark.parametrize("target", ["someone else's", "unknown", "already revoked", "malformed", "sql"])
def test_deleting_a_session_that_is_not_a_live_own_one_is_404(api: Client, user: User, target: str) -> None:
    User.objects.create_user("bob@example.com", PASSWORD)
    mine, bobs = login(api, user.email), login(api, "bob@example.com")
    revoked = login(api, user.email)
    post_json(api, LOGOUT, token=revoked["access_token"])
    session_id = {
        "someone else's": sid(bobs),
        "unknown": str(uuid.uuid4()),
        "already revoked": sid(revoked),
        "malformed": "not-a-uuid",
        "sql": "1' OR '1'='1",
    }[target]
    response = api.delete(f"{SESSIONS}/{session_id}", HTTP_AUTHORIZATION=f"Bearer {mine['access_token']}")
    assert_error(response, 404, "not_found")
    assert alive(api, bobs) and alive(api, mine)
