"""Token rules (tokens/services.py, jwt.py, cache.py): claims, rotation, reuse, cache binding."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import Client, override_settings

from accounts import services as accounts
from accounts.exceptions import InvalidCredentials
from accounts.models import User
from tests.support.client_api import (
    API, PASSWORD, assert_error, assert_invalid_token, b64, get, jwt_parts, login, post_json,
)
from tokens import codec as tjwt
from tokens import services
from tokens.cache import VerifiedTokenCache
from tokens.keys import ring
from tokens.models import RefreshToken, Session
from tests.support.tokens import issue_pair

ME = f"{API}/me"
REFRESH = f"{API}/refresh"
NEW_PASSWORD = "a brand new passphrase 42"

pytestmark = pytest.mark.django_db


def refresh(api: Client, token: str) -> Any:
    return post_json(api, REFRESH, {"refresh_token": token})


def sign(claims: dict[str, Any]) -> str:
    """A token signed with the service's real active key."""
    key = ring.signing_key()
    return tjwt.encode_access(claims, key.private, key.kid)


def claims_for(user: User, sid: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": settings.JWT_ISSUER, "aud": settings.JWT_AUDIENCE, "sub": str(user.pk), "iat": now,
              "exp": now + settings.ACCESS_TOKEN_TTL, "jti": uuid.uuid4().hex, "sid": sid}
    claims.update(changes)
    return claims


def session_of(access: str) -> str:
    return jwt_parts(access)[1]["sid"]


# --- the access token ---

def test_access_token_has_an_eddsa_header_and_exactly_the_expected_claims(api: Client, user: User) -> None:
    before = int(time.time())
    pair = login(api, user.email)
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == settings.ACCESS_TOKEN_TTL
    header, claims, signature = jwt_parts(pair["access_token"])
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": ring.signing_key().kid}
    assert set(claims) == {"iss", "aud", "sub", "iat", "exp", "jti", "sid"}
    assert claims["iss"] == settings.JWT_ISSUER and claims["aud"] == settings.JWT_AUDIENCE
    assert claims["sub"] == str(user.pk)
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == settings.ACCESS_TOKEN_TTL
    assert Session.objects.get(pk=claims["sid"]).user_id == user.pk
    assert len(signature) == 64
    other = login(api, user.email)["access_token"]
    assert jwt_parts(other)[1]["jti"] != claims["jti"]


@override_settings(ACCESS_TOKEN_TTL=120, JWT_ISSUER="issuer-x", JWT_AUDIENCE="audience-y")
def test_claims_follow_the_settings(api: Client, user: User) -> None:
    pair = login(api, user.email)
    claims = jwt_parts(pair["access_token"])[1]
    assert (claims["iss"], claims["aud"], claims["exp"] - claims["iat"]) == ("issuer-x", "audience-y", 120)
    assert pair["expires_in"] == 120
    assert get(api, ME, pair["access_token"]).status_code == 200


def test_refresh_tokens_are_opaque_and_stored_only_as_digests(api: Client, user: User) -> None:
    pair = login(api, user.email)
    assert pair["refresh_token"].count(".") == 0
    assert not RefreshToken.objects.filter(token_hash=pair["refresh_token"]).exists()
    assert RefreshToken.objects.filter(token_hash=services.digest_refresh_token(pair["refresh_token"])).exists()


# --- refresh rotation and reuse ---

def test_each_refresh_token_works_once(api: Client, user: User) -> None:
    first = login(api, user.email)
    second = refresh(api, first["refresh_token"])
    assert second.status_code == 200, second.content
    assert second["Cache-Control"] == "no-store"
    second = second.json()
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert second["refresh_token"] != first["refresh_token"]
    assert session_of(second["access_token"]) == session_of(first["access_token"])  # same family
    third = refresh(api, second["refresh_token"])
    assert third.status_code == 200
    assert get(api, ME, third.json()["access_token"]).status_code == 200


def test_reusing_a_refresh_token_revokes_the_whole_family(api: Client, user: User) -> None:
    first = login(api, user.email)
    bystander = login(api, user.email)  # another login of the same user: another family
    second = refresh(api, first["refresh_token"]).json()
    third = refresh(api, second["refresh_token"]).json()
    assert get(api, ME, third["access_token"]).status_code == 200
    # An attacker replays the first (used) refresh token.
    assert_invalid_token(refresh(api, first["refresh_token"]))
    # Every token of the family is dead now: access tokens too, cached or not.
    for access in (first["access_token"], second["access_token"], third["access_token"]):
        assert_invalid_token(get(api, ME, access))
    assert_invalid_token(refresh(api, third["refresh_token"]))
    session = Session.objects.get(pk=session_of(first["access_token"]))
    assert session.revoked_at is not None and session.revoked_reason == "refresh_reuse"
    # The other family is untouched.
    assert get(api, ME, bystander["access_token"]).status_code == 200
    assert refresh(api, bystander["refresh_token"]).status_code == 200


def test_refresh_rejects_unknown_and_malformed_tokens(api: Client, user: User) -> None:
    login(api, user.email)
    for token in ("", "nope", "x" * 5000, "a.b.c"):
        response = refresh(api, token)
        assert response.status_code in (400, 401), response.content
        assert_error(response, response.status_code, "invalid_token" if response.status_code == 401 else "validation_error")


def test_an_expired_refresh_token_is_refused(api: Client, user: User) -> None:
    pair = login(api, user.email)
    from django.utils import timezone

    RefreshToken.objects.update(expires_at=timezone.now())
    assert_invalid_token(refresh(api, pair["refresh_token"]))


def test_refresh_of_an_inactive_user_is_refused(api: Client, user: User) -> None:
    pair = login(api, user.email)
    User.objects.filter(pk=user.pk).update(is_active=False)  # behind the signals' back
    assert_invalid_token(refresh(api, pair["refresh_token"]))


# --- one kind of token is never the other ---

def test_a_refresh_token_is_not_an_access_token(api: Client, user: User) -> None:
    pair = login(api, user.email)
    assert_invalid_token(get(api, ME, pair["refresh_token"]))


def test_an_access_token_is_not_a_refresh_token(api: Client, user: User) -> None:
    pair = login(api, user.email)
    assert_invalid_token(refresh(api, pair["access_token"]))
    assert get(api, ME, pair["access_token"]).status_code == 200  # nothing was revoked


# --- the verified-token cache is bound to the whole token ---

def test_a_cached_token_altered_anywhere_is_verified_again_and_fails(api: Client, user: User) -> None:
    access = login(api, user.email)["access_token"]
    assert get(api, ME, access).status_code == 200
    assert services.verified_cache.get(access) is not None  # it is cached now
    header, payload, signature = access.split(".")
    head, claims, raw_sig = jwt_parts(access)
    flipped = bytearray(raw_sig)
    flipped[10] ^= 0x01
    altered = {
        "signature": f"{header}.{payload}.{b64(bytes(flipped))}",
        "payload": f"{header}.{b64(_json({**claims, 'sub': str(user.pk + 1)}))}.{signature}",
        "same payload, other jti": f"{header}.{b64(_json({**claims, 'jti': uuid.uuid4().hex}))}.{signature}",
        "header": f"{b64(_json({**head, 'extra': 1}))}.{payload}.{signature}",
        "header kid": f"{b64(_json({**head, 'kid': head['kid'][:-1] + ('B' if head['kid'].endswith('A') else 'A')}))}"
                      f".{payload}.{signature}",
    }
    for label, token in altered.items():
        assert token != access
        response = get(api, ME, token)
        assert response.status_code == 401, (label, response.content)
        assert_invalid_token(response)
    assert get(api, ME, access).status_code == 200  # the genuine one still works


def _json(obj: dict[str, Any]) -> bytes:
    import json

    return json.dumps(obj, separators=(",", ":")).encode()


def test_the_cache_is_keyed_by_the_whole_token_and_never_outlives_exp() -> None:
    cache = VerifiedTokenCache(max_entries=2)
    now = time.time()
    cache.put("a.b.c", {"exp": now + 60, "sid": "s"})
    assert cache.get("a.b.c") == {"exp": now + 60, "sid": "s"}
    assert cache.get("a.b.d") is None and cache.get("a.b.c ") is None
    cache.put("expired", {"exp": now - 1})
    assert cache.get("expired") is None
    cache.put("x", {"exp": now + 60})
    cache.put("y", {"exp": now + 60})
    assert len(cache) == 2  # bounded


def test_a_cached_token_stops_working_when_it_expires(api: Client, user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    pair = login(api, user.email)
    assert get(api, ME, pair["access_token"]).status_code == 200
    exp = jwt_parts(pair["access_token"])[1]["exp"]
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + (exp - real_time()) + settings.JWT_LEEWAY + 1)
    assert_invalid_token(get(api, ME, pair["access_token"]))


def test_a_cached_token_stops_working_when_revoked(api: Client, user: User) -> None:
    pair = login(api, user.email)
    assert get(api, ME, pair["access_token"]).status_code == 200
    assert services.verified_cache.get(pair["access_token"]) is not None
    services.revoke_user_sessions(user.pk, "test")
    assert_invalid_token(get(api, ME, pair["access_token"]))


# --- expiry, issuer, audience ---

def test_expired_tokens_are_refused(api: Client, user: User) -> None:
    sid = session_of(login(api, user.email)["access_token"])
    now = int(time.time())
    expired = sign(claims_for(user, sid, iat=now - 400, exp=now - 100))
    assert_invalid_token(get(api, ME, expired))
    # Within the clock leeway it is still accepted; just beyond it, not.
    edge = sign(claims_for(user, sid, iat=now - 300, exp=now - settings.JWT_LEEWAY + 2))
    assert get(api, ME, edge).status_code == 200
    beyond = sign(claims_for(user, sid, iat=now - 300, exp=now - settings.JWT_LEEWAY - 2))
    assert_invalid_token(get(api, ME, beyond))


@pytest.mark.parametrize("changes", [
    {"aud": "someone-else"}, {"aud": ["someone-else"]}, {"aud": [settings.JWT_AUDIENCE, "x"]},
    {"iss": "someone-else"}, {"iss": ""},
])
def test_wrong_audience_or_issuer_is_refused(api: Client, user: User, changes: dict[str, Any]) -> None:
    sid = session_of(login(api, user.email)["access_token"])
    assert get(api, ME, sign(claims_for(user, sid))).status_code == 200  # control
    assert_invalid_token(get(api, ME, sign(claims_for(user, sid, **changes))))


def test_tokens_issued_for_another_audience_are_refused(api: Client, user: User) -> None:
    with override_settings(JWT_AUDIENCE="another-service"):
        foreign = login(api, user.email)["access_token"]
        assert get(api, ME, foreign).status_code == 200
    services.verified_cache.clear()
    assert_invalid_token(get(api, ME, foreign))
    with override_settings(JWT_ISSUER="another-issuer"):
        foreign = login(api, user.email)["access_token"]
    services.verified_cache.clear()
    assert_invalid_token(get(api, ME, foreign))


def test_a_token_naming_another_session_of_the_same_user_is_still_checked(api: Client, user: User) -> None:
    # sid must name a live session: a signed token for a made-up session is revoked by definition.
    assert_invalid_token(get(api, ME, sign(claims_for(user, str(uuid.uuid4())))))


# --- starting a session after the password check ---

def test_login_verified_before_a_password_change_gets_no_session(user: User) -> None:
    attempt = accounts.login_attempt(user.email, PASSWORD, "10.0.0.9")
    verified = async_to_sync(accounts.aauthenticate)(attempt, PASSWORD)
    # The password changes while that login is between verification and session start.
    async_to_sync(accounts.achange_password)(user.pk, PASSWORD, NEW_PASSWORD)
    with pytest.raises(InvalidCredentials):
        async_to_sync(services.aissue_pair)(verified)
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()


def test_login_verified_before_a_deactivation_gets_no_session(user: User) -> None:
    verified = async_to_sync(accounts.aauthenticate)(accounts.login_attempt(user.email, PASSWORD, "10.0.0.9"), PASSWORD)
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(InvalidCredentials):
        issue_pair(verified)
