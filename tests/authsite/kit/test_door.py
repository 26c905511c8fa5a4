"""authsite.kit.door: oversized bodies get 413 and guarded routes are refused before the
application sees the request; everything else reaches it with its body intact."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from accounts import passwords
from accounts.exceptions import Overloaded
from authsite import asgi
from authsite.kit import metrics
from authsite.kit.door import Door, Guard
from authsite.kit.errors import response_for
from tests.support.asgi import call
from tests.support.metrics import value


class Recorder:
    """An inner application that answers 200 with the body it received."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen.append((scope["path"], body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def refuse() -> Overloaded:
    return Overloaded(retry_after=1)


@pytest.fixture
def inner() -> Recorder:
    return Recorder()


@pytest.fixture
def door(inner: Recorder) -> Door:
    return Door(inner, {"/api/v1/auth/login": Guard("login", "POST", refuse)})


def test_a_refused_request_never_reaches_the_application(door: Door, inner: Recorder) -> None:
    answer = call(door, "POST", "/api/v1/auth/login", b'{"email": "a@example.com"}')
    assert answer.status == 503
    assert inner.seen == []


def test_the_refusal_is_the_error_tables_answer_with_the_api_headers(door: Door) -> None:
    expected = response_for(Overloaded(retry_after=1))
    answer = call(door, "POST", "/api/v1/auth/login", b"{}", headers={"X-Request-ID": "probe-1"})
    assert answer.json() == {"error": "overloaded", "message": "The service is busy. Try again shortly."}
    assert answer.body == expected.content
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["content-length"] == str(len(answer.body))
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-request-id"] == "probe-1"


@pytest.mark.parametrize(("proto", "hsts"), [("https", True), ("http", False), ("https, http", True), (None, False)])
def test_a_refusal_carries_hsts_when_django_would_call_the_request_secure(door: Door, settings, proto: str | None,  # type: ignore[no-untyped-def]
                                                                         hsts: bool) -> None:
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    headers = {"X-Forwarded-Proto": proto} if proto else {}
    answer = call(door, "POST", "/api/v1/auth/login", headers=headers)
    assert ("strict-transport-security" in answer.headers) is hsts
    settings.SECURE_PROXY_SSL_HEADER = None  # no trusted proxy: the connection's own scheme
    assert "strict-transport-security" in call(door, "POST", "/api/v1/auth/login", scheme="https").headers
    assert "strict-transport-security" not in call(door, "POST", "/api/v1/auth/login", headers=headers).headers


def test_a_refusal_gets_a_fresh_request_id_unless_a_sane_one_came(door: Door) -> None:
    first = call(door, "POST", "/api/v1/auth/login", headers={"X-Request-ID": "bad id\u00e9"})
    second = call(door, "POST", "/api/v1/auth/login")
    assert len(first.headers["x-request-id"]) == 24
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_a_refusal_is_counted_under_its_route(door: Door) -> None:
    before = value(metrics.REQUESTS, endpoint="login", status="503")
    call(door, "POST", "/api/v1/auth/login")
    assert value(metrics.REQUESTS, endpoint="login", status="503") == before + 1


def test_other_methods_and_paths_pass_with_their_body(door: Door, inner: Recorder) -> None:
    assert call(door, "GET", "/api/v1/auth/login").status == 200
    assert call(door, "POST", "/api/v1/auth/signup", b'{"x": 1}').body == b'{"x": 1}'
    assert call(door, "POST", "/api/v1/auth/me", chunks=[b'{"a"', b": 2}"]).body == b'{"a": 2}'
    assert inner.seen == [("/api/v1/auth/login", b""), ("/api/v1/auth/signup", b'{"x": 1}'),
                          ("/api/v1/auth/me", b'{"a": 2}')]


def test_a_declared_body_over_the_limit_is_413_before_the_guard(door: Door, inner: Recorder, settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_MAX_BODY_BYTES = 10
    answer = call(door, "POST", "/api/v1/auth/login", headers={"Content-Length": "11"})
    assert answer.status == 413
    assert answer.json()["error"] == "payload_too_large"
    assert call(door, "POST", "/api/v1/auth/me", headers={"Content-Length": "nonsense"}).status == 413
    assert inner.seen == []


def test_a_streamed_body_over_the_limit_is_413(door: Door, inner: Recorder, settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_MAX_BODY_BYTES = 10
    assert call(door, "POST", "/api/v1/auth/me", chunks=[b"123456", b"789012"]).status == 413
    assert inner.seen == []


def test_browser_paths_are_not_read_by_the_door(door: Door, inner: Recorder, settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_MAX_BODY_BYTES = 10
    assert call(door, "POST", "/account/login/", b"x" * 100).status == 200
    assert inner.seen == [("/account/login/", b"x" * 100)]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "counter"), [("/api/v1/auth/login", "LOGIN_OUTCOMES"),
                                               ("/api/v1/auth/signup", "SIGNUP_OUTCOMES")])
def test_the_service_door_sheds_logins_and_signups_while_the_hash_pool_is_full(path: str, counter: str,
                                                                               settings) -> None:  # type: ignore[no-untyped-def]
    from accounts import metrics as account_metrics

    settings.HASH_WORKERS, settings.HASH_QUEUE_LIMIT = 1, 0
    release = threading.Event()
    busy = passwords.get_pool().submit(release.wait, 30)
    outcomes = getattr(account_metrics, counter)
    before = value(outcomes, outcome="overloaded")
    try:
        # Not even JSON: the refusal comes before anything reads the body.
        answer = call(asgi.application, "POST", path, b"not json", headers={"Content-Type": "application/json"})
    finally:
        release.set()
        busy.result(timeout=10)
    assert answer.status == 503
    assert answer.json()["error"] == "overloaded"
    assert answer.headers["retry-after"] == "1"
    assert value(outcomes, outcome="overloaded") == before + 1
    # With room again, the same request reaches the view, which refuses the body itself.
    assert call(asgi.application, "POST", path, b"not json",
                headers={"Content-Type": "application/json"}).status == 400
