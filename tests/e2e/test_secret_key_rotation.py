"""Rotating DJANGO_SECRET_KEY: with the old key in DJANGO_SECRET_KEY_FALLBACKS logins keep
working (signing keys are decrypted with it and re-encrypted under the new key), and tokens
issued before the change stay valid. Real uvicorn processes on the test database."""

from __future__ import annotations

import httpx
import pytest

from accounts.models import User
from tokens.models import SigningKey

PASSWORD = "correct horse battery staple"
A = "/api/v1/auth"
OLD = "old-secret-key-for-the-rotation-test-0123456789-abcdefghijklmnop"
NEW = "new-secret-key-for-the-rotation-test-0123456789-qrstuvwxyzABCDEF"

pytestmark = pytest.mark.server


def _login(http: httpx.Client) -> httpx.Response:
    return http.post(f"{A}/login", json={"email": "rotor@example.com", "password": PASSWORD})


def test_a_new_secret_key_with_the_old_one_as_fallback_keeps_logins_working(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user("rotor@example.com", PASSWORD)
    with live_server_factory(DJANGO_SECRET_KEY=OLD) as server, httpx.Client(base_url=server, timeout=30) as http:
        before = _login(http)
        assert before.status_code == 200
    encrypted_before = bytes(SigningKey.objects.get(is_active=True).private_key_encrypted)
    with live_server_factory(DJANGO_SECRET_KEY=NEW, DJANGO_SECRET_KEY_FALLBACKS=OLD) as server, \
            httpx.Client(base_url=server, timeout=30) as http:
        after = _login(http)
        assert after.status_code == 200, after.text
        token = before.json()["access_token"]
        assert http.get(f"{A}/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert bytes(SigningKey.objects.get(is_active=True).private_key_encrypted) != encrypted_before
    # Re-encrypted: the old key can now be dropped.
    with live_server_factory(DJANGO_SECRET_KEY=NEW) as server, httpx.Client(base_url=server, timeout=30) as http:
        assert _login(http).status_code == 200
