"""No password, token or hash is ever written to logs or error bodies."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings

from accounts.models import User

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase 2024!"
API = "/api/v1/auth"


def post(client: Client, path: str, data: Any = None, token: str | None = None, ip: str = "10.0.0.1") -> Any:
    extra: dict[str, Any] = {"REMOTE_ADDR": ip}
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    body = json.dumps(data) if data is not None else ""
    return client.post(f"{API}/{path}", body, content_type="application/json", **extra)


@pytest.mark.django_db
@override_settings(THROTTLE_ACCOUNT_IP=(3, 900))
def test_no_secret_reaches_logs_or_error_bodies(client: Client, caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "REFRESH_RETRY_GRACE", 0)  # an immediate second use is reuse
    caplog.set_level(logging.DEBUG)  # every logger that does not set its own level
    # SQL logging (with parameters, e.g. password hashes) would happen now if the configured
    # level of django.db.backends allowed it.
    monkeypatch.setattr(connection, "force_debug_cursor", True)
    secrets: list[str] = [PASSWORD, NEW_PASSWORD]
    bodies: list[bytes] = []

    def call(path: str, data: Any = None, token: str | None = None, ip: str = "10.0.0.1") -> Any:
        response = post(client, path, data, token, ip)
        if response.status_code >= 400:
            bodies.append(response.content)  # error bodies (success bodies carry tokens by design)
        return response

    assert call("signup", {"email": "Secret@Example.com", "password": PASSWORD}).status_code == 201
    secrets.append(User.objects.get().password)
    assert call("signup", {"email": "secret@example.com", "password": PASSWORD}).status_code == 409
    assert call("signup", {"email": "weak@example.com", "password": "secret@example.com"}).status_code == 400
    pair = call("login", {"email": "secret@example.com", "password": PASSWORD}).json()
    secrets += [pair["access_token"], pair["refresh_token"]]
    assert client.get(f"{API}/me", HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}").status_code == 200
    rotated = call("refresh", {"refresh_token": pair["refresh_token"]}).json()
    secrets += [rotated["access_token"], rotated["refresh_token"]]
    # Reuse of a rotated refresh token: the family is revoked (and logged as such, without it).
    assert call("refresh", {"refresh_token": pair["refresh_token"]}).status_code == 401
    second = call("login", {"email": "secret@example.com", "password": PASSWORD}).json()
    secrets += [second["access_token"], second["refresh_token"]]
    assert call("password", {"current_password": "not the password at all", "new_password": NEW_PASSWORD},
                token=second["access_token"]).status_code == 400
    assert call("password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                token=second["access_token"]).status_code == 204
    secrets.append(User.objects.get().password)
    third = call("login", {"email": "secret@example.com", "password": NEW_PASSWORD}).json()
    secrets += [third["access_token"], third["refresh_token"]]
    assert call("logout", {"refresh_token": third["refresh_token"]}, token=third["access_token"]).status_code == 204
    revoked = client.get(f"{API}/me", HTTP_AUTHORIZATION=f"Bearer {second['access_token']}")
    assert revoked.status_code == 401  # ended by the password change
    bodies.append(revoked.content)
    for _ in range(3):
        assert call("login", {"email": "secret@example.com", "password": PASSWORD}, ip="10.0.0.2").status_code == 401
    assert call("login", {"email": "secret@example.com", "password": NEW_PASSWORD}, ip="10.0.0.2").status_code == 429
    assert call("login", {"email": "ghost@example.com", "password": PASSWORD}).status_code == 401

    assert len(bodies) == 10
    assert len(set(secrets)) == len(secrets) and all(len(s) >= 12 for s in secrets)
    # Hash digests and token signatures on their own must not leak either.
    fragments = [s.rsplit("$", 1)[-1] for s in secrets if "$" in s] + [s.rsplit(".", 1)[-1] for s in secrets if s.count(".") == 2]
    logged = caplog.text + "\n".join(repr(record.__dict__) for record in caplog.records)
    assert caplog.records, "the flow logs nothing at all: the capture is not working"
    for secret in secrets + fragments:
        assert secret not in logged
        assert not any(secret.encode() in body for body in bodies)
