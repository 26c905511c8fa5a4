"""Security events each write one structured log line (no secret in it), and a revocation key
outlives the access tokens it covers by a real margin."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from accounts.models import User
from authsite.kit import stores
from tests.support.client_api import API, PASSWORD, get, jwt_parts, login, post_json
from tokens import keys

pytestmark = pytest.mark.django_db


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if getattr(record, "event", None) == name]


def _no_secret(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        for secret in secrets:
            assert secret not in text


def test_refresh_reuse_and_the_family_revoked_are_logged(api: Client, user: User,
                                                         caplog: pytest.LogCaptureFixture, settings: Any) -> None:
    settings.REFRESH_RETRY_GRACE = 0
    caplog.set_level(logging.INFO)
    first = login(api, user.email)
    second = post_json(api, f"{API}/refresh", {"refresh_token": first["refresh_token"]}).json()
    assert post_json(api, f"{API}/refresh", {"refresh_token": first["refresh_token"]}).status_code == 401
    (reuse,) = _events(caplog, "refresh_reuse")
    (family,) = _events(caplog, "family_revoked")
    assert reuse.levelno == family.levelno == logging.WARNING
    assert reuse.session_id == family.session_id == jwt_parts(first["access_token"])[1]["sid"]  # type: ignore[attr-defined]
    _no_secret(caplog, first["refresh_token"], second["refresh_token"], first["access_token"], user.email, PASSWORD)


@override_settings(THROTTLE_ACCOUNT_IP=(2, 900))
def test_a_lockout_started_is_logged_once(api: Client, user: User, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(4):
        post_json(api, f"{API}/login", {"email": user.email, "password": "wrong horse battery staple"})
    (lockout,) = _events(caplog, "lockout_started")
    assert lockout.levelno == logging.WARNING and lockout.counter == "account_ip"  # type: ignore[attr-defined]
    _no_secret(caplog, user.email, "wrong horse battery staple")


def test_a_signing_key_rotation_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    row = keys.rotate_signing_key()
    (rotated,) = _events(caplog, "signing_key_rotated")
    assert rotated.levelno == logging.INFO and rotated.kid == row.kid  # type: ignore[attr-defined]


def test_a_revocation_key_outlives_the_tokens_it_covers_by_a_real_margin(api: Client, user: User) -> None:
    client = stores.client()
    if client is None:
        pytest.skip("REDIS_URL is not set")
    pair = login(api, user.email)
    assert post_json(api, f"{API}/logout", token=pair["access_token"]).status_code == 204
    ttl = client.ttl(f"rev:s:{jwt_parts(pair['access_token'])[1]['sid']}")
    assert ttl >= settings.ACCESS_TOKEN_TTL + settings.JWT_LEEWAY + 60
    assert get(api, f"{API}/me", pair["access_token"]).status_code == 401
