"""Account endpoints (accounts/views.py) through django.test.Client: signup, me, password."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest
from django.test import Client, override_settings

from accounts import passwords
from accounts.models import User
from tests.support.client_api import (
    API,
    OTHER_PASSWORD,
    PASSWORD,
    HashSpy,
    assert_error,
    assert_invalid_token,
    assert_no_content,
    assert_validation_error,
    get,
    login,
    post_json,
)

SIGNUP = f"{API}/signup"
ME = f"{API}/me"
PASSWORD_URL = f"{API}/password"

pytestmark = pytest.mark.django_db


# --- signup ---

def test_signup_creates_an_account_with_the_current_argon2id_hash(api: Client, hash_spy: HashSpy) -> None:
    response = post_json(api, SIGNUP, {"email": "  Bob@Example.COM ", "password": PASSWORD})
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"id", "email", "date_joined"}
    assert body["email"] == "bob@example.com"
    datetime.fromisoformat(body["date_joined"])
    stored = User.objects.get(pk=body["id"])
    assert stored.email == "bob@example.com"
    assert passwords.hash_status(stored.password) == "current"
    assert stored.check_password(PASSWORD)
    # Hashed once, on a hashing-pool thread, never on the thread running the event loop.
    assert len(hash_spy.encodes) == 1
    assert hash_spy.encodes[0].startswith("argon2")


@pytest.mark.parametrize("variant", [
    "alice@example.com",
    "ALICE@EXAMPLE.COM",
    "Alice@Example.Com",
    "  alice@example.com\t",
    "ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",  # full-width: NFKC folds it to the same address
    "ＡＬＩＣＥ@example.com",
])
def test_signup_with_an_existing_email_in_another_form_is_409(api: Client, user: User, variant: str,
                                                              hash_spy: HashSpy) -> None:
    response = post_json(api, SIGNUP, {"email": variant, "password": OTHER_PASSWORD})
    assert_error(response, 409, "email_taken")
    assert User.objects.count() == 1
    assert hash_spy.total == 0


def test_the_database_refuses_a_second_account_differing_only_by_case(user: User) -> None:
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        # Bypass the model's canonicalisation: the unique index on lower(email) still holds.
        User.objects.bulk_create([User(email="ALICE@example.com", password="x")])


@pytest.mark.parametrize("password, reason", [
    ("short1!", "too short"),
    ("password1234", "common"),
    ("123456789012345", "numeric"),
    ("carol@example.com", "similar to the email"),
])
def test_signup_with_a_weak_password_is_400(api: Client, password: str, reason: str, hash_spy: HashSpy) -> None:
    response = post_json(api, SIGNUP, {"email": "carol@example.com", "password": password})
    assert_validation_error(response, "password")
    assert not User.objects.exists()
    assert hash_spy.total == 0


@pytest.mark.parametrize("email", ["not-an-email", "", "a@", "@example.com", "x" * 250 + "@example.com"])
def test_signup_with_a_bad_email_is_400(api: Client, email: str) -> None:
    response = post_json(api, SIGNUP, {"email": email, "password": PASSWORD})
    assert_validation_error(response, "email")


def test_a_2000_character_password_is_refused_without_hashing(api: Client, hash_spy: HashSpy) -> None:
    response = post_json(api, SIGNUP, {"email": "dave@example.com", "password": "x" * 2000})
    body = assert_validation_error(response, "password")
    assert "1024" in body["fields"]["password"][0]
    assert hash_spy.total == 0
    assert not User.objects.exists()


def test_a_1024_character_password_is_accepted(api: Client) -> None:
    password = "".join(chr(ord("a") + i % 26) for i in range(1024))
    response = post_json(api, SIGNUP, {"email": "erin@example.com", "password": password})
    assert response.status_code == 201, response.content
    login(api, "erin@example.com", password)


def test_signup_answers_503_with_retry_after_when_the_hash_pool_is_full(api: Client, hash_spy: HashSpy) -> None:
    with override_settings(HASH_WORKERS=1, HASH_QUEUE_LIMIT=0):
        release = threading.Event()
        busy = passwords.get_pool().submit(release.wait, 30)
        try:
            response = post_json(api, SIGNUP, {"email": "frank@example.com", "password": PASSWORD})
        finally:
            release.set()
            busy.result(timeout=10)
    body = assert_error(response, 503, "overloaded")
    assert body["message"]
    assert int(response["Retry-After"]) >= 1
    assert hash_spy.total == 0
    assert not User.objects.exists()


def test_signup_answers_429_with_retry_after_per_ip_without_hashing(api: Client, hash_spy: HashSpy) -> None:
    with override_settings(THROTTLE_IP=(2, 60)):
        for i in range(2):
            assert post_json(api, SIGNUP, {"email": f"u{i}@example.com", "password": PASSWORD}).status_code == 201
        hash_spy.reset()
        response = post_json(api, SIGNUP, {"email": "u9@example.com", "password": PASSWORD})
    assert_error(response, 429, "too_many_attempts")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert hash_spy.total == 0
    assert not User.objects.filter(email="u9@example.com").exists()


# --- bad bodies, shared by every JSON endpoint of this app ---

BAD_BODIES: list[tuple[str, Any, str]] = [
    ("malformed JSON", b'{"email": "a@example.com", "password": ', "application/json"),
    ("truncated", b"{", "application/json"),
    ("JSON array", b'["a@example.com", "pw"]', "application/json"),
    ("JSON string", b'"hello"', "application/json"),
    ("JSON null", b"null", "application/json"),
    ("JSON number", b"42", "application/json"),
    ("wrong content type", b'{"email": "a@example.com", "password": "correct horse battery staple"}', "text/plain"),
    ("form encoded", b"email=a%40example.com&password=x", "application/x-www-form-urlencoded"),
    ("not UTF-8", b'{"email": "\xff\xfe"}', "application/json"),
]


@pytest.mark.parametrize("label, body, content_type", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_signup_rejects_bad_bodies(api: Client, label: str, body: bytes, content_type: str) -> None:
    response = api.post(SIGNUP, body, content_type=content_type)
    body_json = assert_validation_error(response)
    assert "fields" not in body_json


def test_signup_with_an_empty_body_is_400(api: Client) -> None:
    assert_validation_error(api.post(SIGNUP))


@pytest.mark.parametrize("data, fields", [
    ({}, {"email", "password"}),
    ({"email": "a@example.com"}, {"password"}),
    ({"password": PASSWORD}, {"email"}),
    ({"email": None, "password": PASSWORD}, {"email"}),
    ({"email": 42, "password": PASSWORD}, {"email"}),
    ({"email": ["a@example.com"], "password": PASSWORD}, {"email"}),
    ({"email": "a@example.com", "password": 123456789012345}, {"password"}),
    ({"email": "a@example.com", "password": {"x": 1}}, {"password"}),
    ({"email": True, "password": False}, {"email", "password"}),
    ({"email": "a@example.com", "password": "nul\x00byte in the password"}, {"password"}),
])
def test_signup_names_every_missing_or_mistyped_field(api: Client, data: dict[str, Any], fields: set[str]) -> None:
    assert_validation_error(post_json(api, SIGNUP, data), *fields)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_signup_refuses_other_methods(api: Client, method: str) -> None:
    response = getattr(api, method)(SIGNUP)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


# --- me ---

def test_me_returns_the_account(api: Client, user: User, tokens: dict[str, Any]) -> None:
    response = get(api, ME, tokens["access_token"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"id", "email", "email_verified", "is_staff", "date_joined", "last_login"}
    assert body["id"] == user.pk
    assert body["email"] == "alice@example.com"
    assert body["is_staff"] is False
    assert datetime.fromisoformat(body["last_login"])  # set by the login
    assert datetime.fromisoformat(body["date_joined"])


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Token abc", "Bearer abc.def"])
def test_me_without_a_valid_bearer_token_is_401(api: Client, header: str | None) -> None:
    kwargs = {} if header is None else {"HTTP_AUTHORIZATION": header}
    assert_invalid_token(api.get(ME, **kwargs))


def test_me_refuses_other_methods(api: Client, tokens: dict[str, Any]) -> None:
    response = post_json(api, ME, {}, token=tokens["access_token"])
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET"


# --- password change ---

def change(api: Client, token: str, current: str, new: str) -> Any:
    return post_json(api, PASSWORD_URL, {"current_password": current, "new_password": new}, token=token)


def test_password_change_stores_the_new_hash_and_ends_every_session(api: Client, user: User) -> None:
    first = login(api, user.email)
    second = login(api, user.email)
    assert_no_content(change(api, first["access_token"], PASSWORD, OTHER_PASSWORD))
    user.refresh_from_db()
    assert passwords.hash_status(user.password) == "current"
    assert user.check_password(OTHER_PASSWORD)
    for pair in (first, second):
        assert_invalid_token(get(api, ME, pair["access_token"]))
        assert_error(post_json(api, f"{API}/refresh", {"refresh_token": pair["refresh_token"]}), 401, "invalid_token")
    assert_error(post_json(api, f"{API}/login", {"email": user.email, "password": PASSWORD}), 401, "invalid_credentials")
    login(api, user.email, OTHER_PASSWORD)


def test_password_change_with_a_wrong_current_password_is_400(api: Client, user: User,
                                                            tokens: dict[str, Any]) -> None:
    response = change(api, tokens["access_token"], "not the password at all", OTHER_PASSWORD)
    assert_validation_error(response, "current_password")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert get(api, ME, tokens["access_token"]).status_code == 200  # nothing revoked


@pytest.mark.parametrize("new", ["short", "password1234", "123456789012345", "alice@example.com"])
def test_password_change_to_a_weak_password_is_400(api: Client, user: User, tokens: dict[str, Any],
                                                   new: str) -> None:
    assert_validation_error(change(api, tokens["access_token"], PASSWORD, new), "new_password")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert get(api, ME, tokens["access_token"]).status_code == 200


@pytest.mark.parametrize("field", ["current_password", "new_password"])
def test_password_change_with_a_2000_character_password_is_400_without_hashing(
        api: Client, tokens: dict[str, Any], hash_spy: HashSpy, field: str) -> None:
    data = {"current_password": PASSWORD, "new_password": OTHER_PASSWORD, field: "y" * 2000}
    response = post_json(api, PASSWORD_URL, data, token=tokens["access_token"])
    assert_validation_error(response, field)
    assert hash_spy.total == 0


@pytest.mark.parametrize("data, fields", [
    ({}, {"current_password", "new_password"}),
    ({"current_password": PASSWORD}, {"new_password"}),
    ({"current_password": 1, "new_password": OTHER_PASSWORD}, {"current_password"}),
])
def test_password_change_with_missing_or_mistyped_fields_is_400(api: Client, tokens: dict[str, Any],
                                                                data: dict[str, Any], fields: set[str]) -> None:
    assert_validation_error(post_json(api, PASSWORD_URL, data, token=tokens["access_token"]), *fields)


@pytest.mark.parametrize("label, body, content_type", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_password_change_rejects_bad_bodies(api: Client, tokens: dict[str, Any], label: str, body: bytes,
                                            content_type: str) -> None:
    response = api.post(PASSWORD_URL, body, content_type=content_type,
                        HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert_validation_error(response)


def test_password_change_needs_a_token(api: Client) -> None:
    assert_invalid_token(post_json(api, PASSWORD_URL, {"current_password": PASSWORD, "new_password": OTHER_PASSWORD}))


def test_password_change_refuses_other_methods(api: Client, tokens: dict[str, Any]) -> None:
    response = get(api, PASSWORD_URL, tokens["access_token"])
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
