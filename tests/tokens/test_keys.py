"""tokens/keys.py and `manage.py rotate_signing_key`: keys at rest, rotation, JWKS."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import User
from tests.support.client_api import API, assert_error, get, jwt_parts, login, unb64
from tokens import codec, keys, services
from tokens.exceptions import InvalidToken
from tokens.models import Session, SigningKey
from tests.support.tokens import issue_pair

ME = f"{API}/me"
JWKS = "/.well-known/jwks.json"

pytestmark = pytest.mark.django_db


def jwks_kids(api: Client) -> list[str]:
    return [k["kid"] for k in api.get(JWKS).json()["keys"]]


# --- JWKS ---

def test_jwks_publishes_the_active_public_key(api: Client) -> None:
    response = api.get(JWKS)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "max-age=" in response["Cache-Control"] and "public" in response["Cache-Control"]
    (jwk,) = response.json()["keys"]
    active = SigningKey.objects.get(is_active=True)
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": active.kid, "x": jwk["x"]}
    assert unb64(jwk["x"]) == bytes(active.public_key)
    assert keys.thumbprint(bytes(active.public_key)) == active.kid  # RFC 7638


def test_jwks_verifies_issued_tokens(api: Client, user: User) -> None:
    access = login(api, user.email)["access_token"]
    header, _, signature = jwt_parts(access)
    (jwk,) = [k for k in api.get(JWKS).json()["keys"] if k["kid"] == header["kid"]]
    public = Ed25519PublicKey.from_public_bytes(unb64(jwk["x"]))
    public.verify(signature, access.rsplit(".", 1)[0].encode())  # raises if it does not verify


def test_jwks_refuses_other_methods(api: Client) -> None:
    response = api.post(JWKS)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET"


# --- private keys at rest ---

def test_private_keys_are_encrypted_at_rest() -> None:
    active = keys.ring.signing_key()
    raw_private = active.private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                               serialization.NoEncryption())
    row = SigningKey.objects.get(kid=active.kid)
    stored = bytes(row.private_key_encrypted)
    assert raw_private not in stored
    assert len(stored) > len(raw_private)
    pem = active.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    assert pem not in stored
    # It round-trips with the right secret.
    again = keys.decrypt_private(row).private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                     serialization.NoEncryption())
    assert again == raw_private


def test_decrypting_with_another_secret_key_fails_clearly() -> None:
    row = keys.ensure_active()
    with override_settings(SECRET_KEY="some-other-secret-key-0123456789abcdefghij"):
        with pytest.raises(RuntimeError) as info:
            keys.decrypt_private(row)
    message = str(info.value)
    assert row.kid in message and "DJANGO_SECRET_KEY" in message and "rotate_signing_key" in message


def test_the_jwks_never_carries_private_material(api: Client) -> None:
    keys.rotate_signing_key()
    for jwk in api.get(JWKS).json()["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}


# --- rotation ---

def test_rotation_keeps_earlier_tokens_valid_and_publishes_both_keys(api: Client, user: User) -> None:
    before = login(api, user.email)
    old_kid = jwt_parts(before["access_token"])[0]["kid"]
    new = keys.rotate_signing_key()
    assert new.kid != old_kid
    assert SigningKey.objects.filter(is_active=True).get() == new
    assert set(jwks_kids(api)) == {old_kid, new.kid}
    # The earlier access token still works, and so does its refresh token.
    assert get(api, ME, before["access_token"]).status_code == 200
    refreshed = api.post(f"{API}/refresh", {"refresh_token": before["refresh_token"]}, content_type="application/json")
    assert refreshed.status_code == 200
    # New tokens are signed with the new key.
    assert jwt_parts(refreshed.json()["access_token"])[0]["kid"] == new.kid
    assert jwt_parts(login(api, user.email)["access_token"])[0]["kid"] == new.kid


def test_retired_keys_leave_the_jwks_once_their_tokens_have_expired(api: Client) -> None:
    first = keys.ensure_active()
    keys.rotate_signing_key()
    assert first.kid in jwks_kids(api)
    SigningKey.objects.filter(pk=first.pk).update(
        retired_at=timezone.now() - keys.retired_grace() - timedelta(seconds=1))
    keys.ring.invalidate()  # the served set is otherwise reused for JWKS_CACHE_SECONDS
    assert first.kid not in jwks_kids(api)
    assert len(jwks_kids(api)) == 1


def test_retired_key_stops_verifying_when_its_grace_ends(user: User) -> None:
    old = keys.ring.signing_key()
    issue_pair(user)
    session_id = str(Session.objects.get(user=user).pk)
    keys.rotate_signing_key()
    token = services.sign_access(user.pk, session_id, old)
    assert async_to_sync(services.aauthenticate_access)(token).user_id == user.pk  # within grace
    # The grace has passed (backdate the retirement) and this worker re-reads its key set.
    SigningKey.objects.filter(kid=old.kid).update(retired_at=timezone.now() - keys.retired_grace() - timedelta(seconds=1))
    keys.ring.invalidate()
    services.verified_cache.clear()
    fresh = services.sign_access(user.pk, session_id, old)  # minted with the old private key
    with pytest.raises(InvalidToken):
        async_to_sync(services.aauthenticate_access)(fresh)
    assert codec.unverified_kid(fresh) == old.kid


def test_rotate_signing_key_command_activates_a_new_key_and_lists_both(api: Client, user: User) -> None:
    before = login(api, user.email)
    old_kid = keys.ensure_active().kid
    out = StringIO()
    call_command("rotate_signing_key", stdout=out)
    text = out.getvalue()
    new = SigningKey.objects.get(is_active=True)
    assert new.kid != old_kid
    assert f"New active signing key: {new.kid}" in text
    lines = {line.split()[0]: line for line in text.splitlines()[2:] if line.strip()}
    assert set(lines) == {new.kid, old_kid}
    assert "active" in lines[new.kid]
    assert "retired" in lines[old_kid] and "published until" in lines[old_kid]
    assert SigningKey.objects.get(kid=old_kid).retired_at is not None
    assert get(api, ME, before["access_token"]).status_code == 200
    assert set(jwks_kids(api)) == {old_kid, new.kid}


def test_rotating_twice_keeps_one_active_key_and_publishes_all_three(api: Client) -> None:
    first = keys.ensure_active().kid
    call_command("rotate_signing_key", stdout=StringIO())
    second = keys.ensure_active().kid
    out = StringIO()
    call_command("rotate_signing_key", stdout=out)
    third = keys.ensure_active().kid
    assert len({first, second, third}) == 3
    assert SigningKey.objects.filter(is_active=True).count() == 1
    assert set(jwks_kids(api)) == {first, second, third}
    assert all(kid in out.getvalue() for kid in (first, second, third))


def test_rotation_is_the_way_out_after_a_secret_key_change(api: Client, user: User) -> None:
    keys.ensure_active()
    with override_settings(SECRET_KEY="some-other-secret-key-0123456789abcdefghij"):
        keys.ring.invalidate()
        with pytest.raises(RuntimeError):
            keys.ring.signing_key()
        call_command("rotate_signing_key", stdout=StringIO())
        keys.ring.invalidate()
        assert keys.ring.signing_key().kid == SigningKey.objects.get(is_active=True).kid
        assert get(api, ME, login(api, user.email)["access_token"]).status_code == 200
    keys.ring.invalidate()


def test_a_fresh_database_gets_a_key_on_first_use(api: Client) -> None:
    assert not SigningKey.objects.exists()
    kids: list[Any] = jwks_kids(api)
    assert len(kids) == 1 and SigningKey.objects.get().kid == kids[0]
