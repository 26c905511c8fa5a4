"""The request middleware in front of every view: the API answers only for allowed hosts, while
probes by IP still reach the health endpoints."""

from __future__ import annotations

import pytest
from django.test import Client

PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.django_db


def test_api_refuses_a_host_outside_allowed_hosts(client: Client) -> None:
    response = client.post("/api/v1/auth/login", {"email": "a@example.com", "password": PASSWORD},
                           content_type="application/json", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert client.get("/healthz", HTTP_HOST="10.1.2.3").status_code == 200  # probes by IP still work


@pytest.mark.urls("tests.authsite.kit.csrf_urls")
def test_every_browser_view_is_csrf_checked() -> None:
    browser = Client(enforce_csrf_checks=True)
    headers = {"HTTP_ORIGIN": "https://testserver", "HTTP_REFERER": "https://testserver/test-form/"}
    token = browser.get("/test-form/", secure=True).content.decode()
    refused = browser.post("/test-form/", {"field": "value"}, secure=True, **headers)
    assert refused.status_code == 403
    accepted = browser.post("/test-form/", {"field": "value", "csrfmiddlewaretoken": token}, secure=True, **headers)
    assert accepted.status_code == 200 and accepted.content == b"saved"
    # The JSON API takes bearer tokens, never cookies: no CSRF token needed there.
    api = browser.post("/api/v1/auth/login", {"email": "a@example.com", "password": PASSWORD},
                       content_type="application/json", secure=True)
    assert api.status_code == 401
