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
