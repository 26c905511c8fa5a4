"""authsite/ops.py: healthz, readyz, JSON 404, and the API-wide response conventions."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client, override_settings

from authsite.kit import stores
from tests.support.client_api import assert_error

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok_in_json(api: Client) -> None:
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


def test_healthz_does_no_io(api: Client, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    with django_assert_num_queries(0):
        assert api.get("/healthz").status_code == 200


def test_readyz_checks_database_cache_and_broker(api: Client) -> None:
    response = api.get("/readyz")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}


def test_readyz_names_the_cache_when_redis_is_down(api: Client) -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = api.get("/readyz")
    stores.mark_up()
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["error"] == "unavailable"
    assert "cache" in body["message"] and "database" not in body["message"] and "broker" not in body["message"]
    assert body["checks"] == {"database": "ok", "cache": "down", "broker": "ok"}


@pytest.mark.server
def test_readyz_names_the_database_and_the_broker_when_they_are_down(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    dead = {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere", "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}
    with live_server_factory(**dead) as base:
        response = httpx.get(f"{base}/readyz", timeout=30)
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["error"] == "unavailable"
    assert "database" in body["message"] and "broker" in body["message"] and "cache" not in body["message"]
    assert body["checks"] == {"database": "down", "cache": "ok", "broker": "down"}


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v1/auth/", "/api/v1/auth/login/", "/.well-known/x",
                                  "/api/v1/auth/sessions/a/b"])
def test_unknown_paths_are_json_404(api: Client, path: str) -> None:
    # secure=True: browser paths redirect plain HTTP to HTTPS in production settings.
    for method in ("get", "post", "delete"):
        assert_error(getattr(api, method)(path, secure=True), 404, "not_found")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api/v1/schema", "/.well-known/jwks.json"])
def test_read_only_endpoints_refuse_writes(api: Client, path: str) -> None:
    for method in ("post", "put", "delete"):
        response = getattr(api, method)(path)
        assert_error(response, 405, "method_not_allowed")
        assert response["Allow"] == "GET"


def test_api_responses_carry_a_request_id_and_security_headers(api: Client) -> None:
    response = api.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    assert response["X-Content-Type-Options"] == "nosniff"
    hostile = api.get("/healthz", HTTP_X_REQUEST_ID="<script>\r\n")
    assert hostile["X-Request-ID"] != "<script>\r\n" and hostile["X-Request-ID"].isalnum()
