"""Hostile request bodies on every JSON endpoint: each is a clean 4xx in the contract's
error shape, never a 500; bodies over API_MAX_BODY_BYTES are refused with 413 before parsing,
through a real uvicorn (the guard lives in authsite/asgi.py, outside Django)."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from tests.support.tokens import issue_pair

PASSWORD = "correct horse battery staple"
LIMIT = settings.API_MAX_BODY_BYTES
A = "/api/v1/auth"
# Every endpoint that reads a JSON body, and whether it needs a Bearer token.
JSON_ENDPOINTS = [
    (f"{A}/signup", False),
    (f"{A}/login", False),
    (f"{A}/refresh", False),
    (f"{A}/logout", True),
    (f"{A}/password", True),
]
ALL_POST_ENDPOINTS = [*JSON_ENDPOINTS, (f"{A}/logout-all", True)]


def assert_error_shape(response: Any, status: int | tuple[int, ...] | None = None) -> dict[str, Any]:
    """A 4xx with Content-Type application/json and {"error", "message"[, "fields"]}."""
    code = response.status_code
    assert 400 <= code < 500, (code, response.content[:300])
    if status is not None:
        assert code in (status if isinstance(status, tuple) else (status,)), (code, response.content[:300])
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) <= {"error", "message", "fields"}, body
    assert isinstance(body["error"], str) and isinstance(body["message"], str)
    if "fields" in body:
        assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in body["fields"].values())
    return body


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("owner@example.com", PASSWORD)


@pytest.fixture
def bearer(user: User) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {issue_pair(user).access_token}"}


def post(client: Client, path: str, body: bytes | str, bearer: dict[str, str], needs_bearer: bool,
         content_type: str = "application/json") -> Any:
    extra = bearer if needs_bearer else {}
    return client.post(path, data=body, content_type=content_type, **extra)


# --- Not a JSON object at all ---

DEEP = "[" * 10000 + "]" * 10000
NOT_AN_OBJECT = [
    "[]", '["email", "password"]', '"a string"', "42", "-1.5e300", "null", "true", "false",
    DEEP, '{"email":' + DEEP + "}",
    '{"email": "a@b.c", "password": ' + "[" * 5000 + "]" * 5000 + "}",
    "{", "}", "{'email': 'x'}", '{"email": "a@b.c",}', "{\"a\":1e400}", '{"a": NaN}', "\ufeff{}",
    '{"email": "\\ud800@example.com", "password": "correct horse battery staple"}',
    '{"refresh_token": "\\udc00", "current_password": "\\ud800\\ud800", "new_password": "\\ud83d"}',
    '{"email": "x@example.com", "password": "\\ud800 surrogate alone 1234"}',
]


@pytest.mark.parametrize("path,needs_bearer", JSON_ENDPOINTS)
@pytest.mark.parametrize("body", NOT_AN_OBJECT, ids=lambda b: b[:20])
def test_malformed_or_non_object_json_is_a_validation_error(client: Client, bearer: dict[str, str], path: str,
                                                            needs_bearer: bool, body: str) -> None:
    response = post(client, path, body, bearer, needs_bearer)
    assert assert_error_shape(response, 400)["error"] == "validation_error"


@pytest.mark.parametrize("path,needs_bearer", JSON_ENDPOINTS)
@pytest.mark.parametrize("raw", [b'{"email": "\xff\xfe@example.com", "password": "x"}', b"\xc3\x28", b"\xed\xa0\x80",
                                 b'{"refresh_token": "\x80"}', b"\x00\x00\x00{", b"{\"a\":\"\x00\"}"],
                         ids=repr)
def test_invalid_utf8_and_raw_control_bytes_are_a_validation_error(client: Client, bearer: dict[str, str], path: str,
                                                                   needs_bearer: bool, raw: bytes) -> None:
    response = post(client, path, raw, bearer, needs_bearer)
    assert assert_error_shape(response, 400)["error"] == "validation_error"


@pytest.mark.parametrize("path,needs_bearer", JSON_ENDPOINTS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/xml", "application/jsonp", "json", ""])
def test_a_wrong_content_type_is_a_validation_error(client: Client, bearer: dict[str, str], path: str,
                                                    needs_bearer: bool, content_type: str) -> None:
    body = json.dumps({"email": "owner@example.com", "password": PASSWORD, "refresh_token": "x",
                       "current_password": PASSWORD, "new_password": "another long passphrase 42"})
    extra = bearer if needs_bearer else {}
    if content_type == "multipart/form-data":
        response = client.post(path, data={"email": "owner@example.com", "password": PASSWORD}, **extra)
    else:
        response = client.generic("POST", path, body.encode(), content_type=content_type, **extra)
    assert assert_error_shape(response, 400)["error"] == "validation_error"
    User.objects.get(email="owner@example.com").check_password(PASSWORD)  # nothing changed


# --- A JSON object whose fields are hostile ---

def _bodies_for(path: str) -> list[dict[str, Any]]:
    names = {"signup": ["email", "password"], "login": ["email", "password"], "refresh": ["refresh_token"],
             "logout": ["refresh_token"], "password": ["current_password", "new_password"]}[path.rsplit("/", 1)[1]]
    good = {"email": "someone@example.com", "password": PASSWORD, "refresh_token": "x" * 43,
            "current_password": PASSWORD, "new_password": "another long passphrase 42"}
    bad_values: list[Any] = [None, 1, 0, -1, 1.5, 2**64, 10**30, -(10**30), 1e308, True, [], ["a"], {}, {"$ne": ""},
                             "\x00", "nul\x00inside"]
    bodies = []
    for name in names:
        for value in bad_values:
            body = {n: good[n] for n in names}
            body[name] = value
            bodies.append(body)
    if "email" in names:
        bodies.append({"email": "a" * 243 + "@example.com", "password": PASSWORD})  # 255 characters
        bodies.append({"email": "a" * 64 + "@" + "b" * 10_000 + ".com", "password": PASSWORD})
        bodies.append({"email": "x@example.com", "password": "p" * (settings.PASSWORD_MAX_LENGTH + 1)})
    if path.endswith("/password"):
        bodies.append({"current_password": PASSWORD, "new_password": "n" * (settings.PASSWORD_MAX_LENGTH + 1)})
        bodies.append({"current_password": "c" * (settings.PASSWORD_MAX_LENGTH + 1), "new_password": "x"})
    if path.endswith("/signup"):
        bodies.append({"email": "not-an-email", "password": PASSWORD})
        bodies.append({"email": "x@example.com", "password": "short"})
    if names != ["refresh_token"]:
        bodies.append({})
    return bodies


HOSTILE_FIELDS = [(path, needs, body) for path, needs in JSON_ENDPOINTS for body in _bodies_for(path)
                  if not (path.endswith("/logout") and body.get("refresh_token") is None)]


@pytest.mark.parametrize("path,needs_bearer,body", HOSTILE_FIELDS,
                         ids=[f"{p.rsplit('/', 1)[1]}-{json.dumps(b)[:40]}" for p, _, b in HOSTILE_FIELDS])
def test_hostile_field_values_are_a_clean_4xx(client: Client, bearer: dict[str, str], path: str, needs_bearer: bool,
                                              body: dict[str, Any]) -> None:
    response = post(client, path, json.dumps(body), bearer, needs_bearer)
    result = assert_error_shape(response, (400, 401))
    if response.status_code == 400:
        assert result["error"] == "validation_error"
        assert result.get("fields"), result
    else:  # a refresh token of the right type but no token of ours
        assert path.endswith("/refresh") and result["error"] == "invalid_token"


def test_email_over_254_characters_is_a_field_error(client: Client, db: None) -> None:
    email = "a" * 243 + "@example.com"
    assert len(email) == 255
    for path in (f"{A}/signup", f"{A}/login"):
        body = assert_error_shape(client.post(path, {"email": email, "password": PASSWORD},
                                              content_type="application/json"), 400)
        assert "email" in body["fields"]
    assert not User.objects.exists()


def test_huge_integer_and_extra_fields_are_not_a_crash(client: Client, user: User) -> None:
    for big, field_error in (("9" * 30, True), ("9" * 4000, False), ("-" + "9" * 4000, False)):
        # Up to ~308 digits orjson makes a float (not a string: a field error); beyond, it is
        # infinity and the body itself is refused. Both are a 400, neither a crash.
        body = f'{{"email": {big}, "password": "{PASSWORD}"}}'
        result = assert_error_shape(client.post(f"{A}/login", body, content_type="application/json"), 400)
        assert result["error"] == "validation_error"
        assert ("email" in result.get("fields", {})) is field_error
    # Unknown fields are ignored, duplicates resolve to the last one: a normal answer.
    body = f'{{"email": "x@y.z", "email": "owner@example.com", "password": "{PASSWORD}", "is_staff": true}}'
    response = client.post(f"{A}/login", body, content_type="application/json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path,needs_bearer", ALL_POST_ENDPOINTS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_a_wrong_method_is_405_naming_post(client: Client, bearer: dict[str, str], path: str, needs_bearer: bool,
                                           method: str) -> None:
    response = client.generic(method, path, **(bearer if needs_bearer else {}))
    assert assert_error_shape(response, 405)["error"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("session_id", ["not-a-uuid", "%00", "..%2F..%2Fetc%2Fpasswd", "' OR 1=1 --", "x" * 5000,
                                        "00000000-0000-0000-0000-000000000000"])
def test_hostile_session_ids_are_404(client: Client, bearer: dict[str, str], session_id: str) -> None:
    response = client.delete(f"{A}/sessions/{session_id}", **bearer)
    assert_error_shape(response, 404)


def test_unknown_api_paths_are_json_404(client: Client, db: None) -> None:
    for path in (f"{A}/nope", "/api/v1/", "/api/v1/auth/me/extra", "/.well-known/x"):
        assert_error_shape(client.get(path), 404)


# --- Through a real uvicorn: size limit before parsing, declared and chunked ---

def _raw_http(base: str, request: bytes, chunks: list[bytes] = ()) -> tuple[int, bytes]:  # type: ignore[assignment]
    """Send a raw HTTP/1.1 request (headers, then body chunks); return (status, response body)."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused early and closed: its answer is already in our buffer
        data = b""
        try:
            while True:
                part = sock.recv(65536)
                if not part:
                    break
                data += part
                head, sep, rest = data.partition(b"\r\n\r\n")
                if sep:
                    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")]
                    if length and len(rest) >= length[0]:
                        break
        except ConnectionResetError:
            pass
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head, "connection dropped without a response"
    return int(head.split(b" ")[1]), rest


def _chunked(payload: bytes, size: int = 4096) -> list[bytes]:
    parts = [payload[i:i + size] for i in range(0, len(payload), size)]
    return [b"%x\r\n%s\r\n" % (len(p), p) for p in parts] + [b"0\r\n\r\n"]


@pytest.mark.server
def test_bodies_over_the_limit_are_413_through_uvicorn(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    user = User.objects.create_user("size@example.com", PASSWORD)
    token = issue_pair(user).access_token
    oversized = json.dumps({"email": "size@example.com", "password": PASSWORD, "pad": "x" * LIMIT}).encode()
    assert len(oversized) > LIMIT
    just_fits = json.dumps({"email": "size@example.com", "password": PASSWORD,
                            "pad": "x" * (LIMIT - 100)}).encode()
    assert len(just_fits) <= LIMIT
    with live_server_factory(workers=1) as base, httpx.Client(base_url=base, timeout=10) as http:
        for path, needs_bearer in JSON_ENDPOINTS:
            headers = {"Authorization": f"Bearer {token}"} if needs_bearer else {}
            # Declared Content-Length over the limit.
            response = http.post(path, content=oversized, headers={**headers, "Content-Type": "application/json"})
            assert response.status_code == 413, (path, response.status_code, response.text[:200])
            assert response.json()["error"] == "payload_too_large"
            assert set(response.json()) == {"error", "message"}
            # Chunked transfer (no Content-Length), streamed past the limit.
            auth = f"Authorization: Bearer {token}\r\n".encode() if needs_bearer else b""
            head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\nConnection: close\r\n").encode() + auth + b"\r\n"
            status, body = _raw_http(base, head, _chunked(oversized + b" " * 200_000))
            assert status == 413, (path, status, body[:200])
            assert json.loads(body)["error"] == "payload_too_large"
            # A 10000-deep nest is over the limit too: refused before the parser sees it.
            response = http.post(path, content=DEEP.encode(), headers={**headers, "Content-Type": "application/json"})
            assert response.status_code == 413
            # Declared length that is not a number.
        status, _ = _raw_http(base, (f"POST {A}/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1x\r\n"
                                     "Connection: close\r\n\r\n").encode())
        assert 400 <= status < 500
        # Below the limit, chunked or not, the request reaches the view (which answers normally).
        response = http.post(f"{A}/login", content=just_fits, headers={"Content-Type": "application/json"})
        assert response.status_code == 200, response.text
        head = (f"POST {A}/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
        status, body = _raw_http(base, head, _chunked(just_fits, 1000))
        assert status == 200, body[:200]
        # Non-object and broken bodies are 400 through the real server as well.
        for raw in (b"[]", b"\xff\xfe", b'{"email": "\\ud800"}', b"[" * 5000 + b"]" * 5000):
            response = http.post(f"{A}/login", content=raw, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, (raw[:20], response.status_code)
            assert response.json()["error"] == "validation_error"
        # The server survived all of it.
        assert http.get("/healthz").status_code == 200
