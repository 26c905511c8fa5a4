"""Hostile access and refresh tokens: every one is a 401 `invalid_token` with the
Bearer challenge, never a 500 and never a 200.

Tokens are forged by hand here (PyJWT refuses to produce several of them, e.g. HS256 with an
Ed25519 public key); the ones that only a claim check can reject are signed by OUR real key
through tokens.keys.ring + tokens.codec.encode_access.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.test import Client

from accounts.models import User
from tokens import codec as tjwt
from tokens import services
from tokens.keys import ring
from tokens.models import Session
from tests.support.tokens import issue_pair

ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"
PASSWORD = "correct horse battery staple"


# --- forging helpers ---

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def forge(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A compact JWS; `sign(signing_input) -> bytes` or no signature at all."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64(signature)}"


def good_claims(user_id: int, session_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": settings.JWT_ISSUER, "aud": settings.JWT_AUDIENCE, "sub": str(user_id),
                              "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, "sid": session_id}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def ours(claims: dict[str, Any]) -> str:
    """Signed by the service's real active key (only the claim checks can reject it)."""
    key = ring.signing_key()
    return tjwt.encode_access(claims, key.private, key.kid)


def ours_forged(claims: dict[str, Any]) -> str:
    """Signed by our real key through the hand forger (PyJWT refuses e.g. a list `iss`)."""
    real = ring.signing_key()
    return forge({"alg": "EdDSA", "kid": real.kid, "typ": "at+jwt"}, claims, real.private.sign)


def assert_invalid_token(response: Any) -> None:
    assert response.status_code == 401, (response.status_code, getattr(response, "content", b"")[:300])
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "invalid_token", body
    assert isinstance(body["message"], str)
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def me(client: Client, token: str) -> Any:
    return client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("victim@example.com", PASSWORD)


@pytest.fixture
def pair(user: User) -> services.TokenPair:
    return issue_pair(user, "127.0.0.1", "pytest")


@pytest.fixture
def sid(pair: services.TokenPair) -> str:
    return str(Session.objects.get().pk)


@pytest.fixture
def client() -> Client:
    return Client()


def test_the_genuine_token_works(client: Client, pair: services.TokenPair) -> None:
    # Guards every test below: they fail for the forgery, not for a broken setup.
    response = me(client, pair.access_token)
    assert response.status_code == 200, response.content
    assert response.json()["email"] == "victim@example.com"


def test_alg_none_is_refused(client: Client, user: User, sid: str) -> None:
    kid = ring.signing_key().kid
    for alg in ("none", "None", "NONE"):
        token = forge({"alg": alg, "typ": "at+jwt", "kid": kid}, good_claims(user.pk, sid))
        assert_invalid_token(me(client, token))
        assert_invalid_token(me(client, token.rstrip(".")))


def test_hs256_signed_with_the_published_public_key_is_refused(client: Client, user: User, sid: str) -> None:
    jwk = client.get("/.well-known/jwks.json").json()["keys"][0]
    raw_public = unb64(jwk["x"])
    pem_like = jwk["x"].encode()
    for secret in (raw_public, pem_like, base64.b64encode(raw_public), json.dumps(jwk).encode()):
        for alg in ("HS256", "HS512"):
            digest = hashlib.sha256 if alg == "HS256" else hashlib.sha512
            token = forge({"alg": alg, "typ": "at+jwt", "kid": jwk["kid"]}, good_claims(user.pk, sid),
                          lambda data, s=secret, d=digest: hmac.new(s, data, d).digest())
            assert_invalid_token(me(client, token))


def test_a_valid_signature_by_a_foreign_key_with_our_kid_is_refused(client: Client, user: User, sid: str) -> None:
    foreign = Ed25519PrivateKey.generate()
    kid = ring.signing_key().kid
    token = forge({"alg": "EdDSA", "typ": "at+jwt", "kid": kid}, good_claims(user.pk, sid), foreign.sign)
    assert_invalid_token(me(client, token))
    # Through encode_access too (PyJWT's own encoding of the same forgery).
    assert_invalid_token(me(client, tjwt.encode_access(good_claims(user.pk, sid), foreign, kid)))


def test_an_unknown_kid_is_refused(client: Client, user: User, sid: str) -> None:
    real = ring.signing_key()
    # Our own key, but a kid we never published: the kid decides, not a key search.
    assert_invalid_token(me(client, tjwt.encode_access(good_claims(user.pk, sid), real.private, "no-such-kid")))
    foreign = Ed25519PrivateKey.generate()
    assert_invalid_token(me(client, tjwt.encode_access(good_claims(user.pk, sid), foreign, uuid.uuid4().hex)))


@pytest.mark.parametrize("kid", [
    "../../../../etc/passwd", "/etc/passwd", "file:///etc/passwd", "..\\..\\windows\\win.ini",
    "' OR '1'='1", "x'; DROP TABLE tokens_signingkey; --", "\x00", "", " ",
    "A" * 65, "J" * 3000, "J" * 10 * 1024,
])
def test_a_hostile_kid_is_refused(client: Client, user: User, sid: str, kid: str) -> None:
    real = ring.signing_key()
    token = tjwt.encode_access(good_claims(user.pk, sid), real.private, kid)
    assert_invalid_token(me(client, token))


@pytest.mark.parametrize("kid", [123, None, ["k"], {"k": 1}, True])
def test_a_kid_of_the_wrong_type_is_refused(client: Client, user: User, sid: str, kid: Any) -> None:
    real = ring.signing_key()
    token = forge({"alg": "EdDSA", "typ": "at+jwt", "kid": kid}, good_claims(user.pk, sid), real.private.sign)
    assert_invalid_token(me(client, token))


def test_hostile_kid_leaves_the_key_table_alone(client: Client, user: User, sid: str) -> None:
    from tokens.models import SigningKey

    real = ring.signing_key()
    before = list(SigningKey.objects.values_list("kid", flat=True))
    me(client, tjwt.encode_access(good_claims(user.pk, sid), real.private, "x'; DELETE FROM tokens_signingkey; --"))
    assert list(SigningKey.objects.values_list("kid", flat=True)) == before


@pytest.mark.parametrize("missing", ["exp", "iat", "jti", "sub", "iss", "aud", "sid"])
def test_a_missing_claim_is_refused_even_signed_by_our_key(client: Client, user: User, sid: str, missing: str) -> None:
    token = ours(good_claims(user.pk, sid, **{missing: None}))
    assert missing not in json.loads(unb64(token.split(".")[1]))
    assert_invalid_token(me(client, token))


def test_control_a_complete_token_signed_by_our_key_passes(client: Client, user: User, sid: str) -> None:
    assert me(client, ours(good_claims(user.pk, sid))).status_code == 200


@pytest.mark.parametrize("changes", [
    {"exp": int(time.time()) + 10 * 365 * 86400},
    {"exp": 2**53},
    {"iat": int(time.time()) - 86400, "exp": int(time.time()) + 3600},
    {"exp": int(time.time()) - 60, "iat": int(time.time()) - 600},
    {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 3900},
    {"exp": "9999999999"},
    {"exp": 1e12},
    {"iat": None, "nbf": 0},
])
def test_bad_lifetimes_are_refused_even_signed_by_our_key(client: Client, user: User, sid: str,
                                                          changes: dict[str, Any]) -> None:
    assert_invalid_token(me(client, ours(good_claims(user.pk, sid, **changes))))


@pytest.mark.parametrize("changes", [
    {"iss": "someone-else"}, {"iss": ""}, {"iss": [settings.JWT_ISSUER]},
    {"aud": "someone-else"}, {"aud": [settings.JWT_AUDIENCE, "other"]}, {"aud": ""},
    {"sub": "0"}, {"sub": 1}, {"sub": "1 OR 1=1"}, {"sub": "-1"}, {"sub": "١"}, {"sub": "99999999999999999999"},
    {"sid": str(uuid.uuid4())}, {"sid": "not-a-uuid"}, {"sid": 5},
])
def test_wrong_claims_are_refused_even_signed_by_our_key(client: Client, user: User, sid: str,
                                                         changes: dict[str, Any]) -> None:
    assert_invalid_token(me(client, ours_forged(good_claims(user.pk, sid, **changes))))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWT ", "refresh+jwt", None, 1])
def test_a_wrong_typ_is_refused_even_signed_by_our_key(client: Client, user: User, sid: str, typ: Any) -> None:
    real = ring.signing_key()
    header = {"alg": "EdDSA", "kid": real.kid, "typ": typ}
    token = forge({k: v for k, v in header.items() if v is not None}, good_claims(user.pk, sid), real.private.sign)
    assert_invalid_token(me(client, token))


def test_control_hand_forged_header_with_our_key_passes(client: Client, user: User, sid: str) -> None:
    # The forging helper itself produces acceptable tokens: rejections above are the checks.
    real = ring.signing_key()
    token = forge({"alg": "EdDSA", "typ": "at+jwt", "kid": real.kid}, good_claims(user.pk, sid), real.private.sign)
    assert me(client, token).status_code == 200


def test_refresh_token_is_not_an_access_token(client: Client, pair: services.TokenPair) -> None:
    assert_invalid_token(me(client, pair.refresh_token))


def test_access_token_is_not_a_refresh_token(client: Client, pair: services.TokenPair) -> None:
    response = client.post(REFRESH, {"refresh_token": pair.access_token}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    # And the real refresh token still rotates: the refusal was about the kind of token.
    response = client.post(REFRESH, {"refresh_token": pair.refresh_token}, content_type="application/json")
    assert response.status_code == 200, response.content


def _flip_char(text: str, index: int) -> str:
    # A different base64url character that changes the decoded bytes (not just padding bits).
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1:]


def test_a_cached_token_with_one_byte_changed_is_refused(client: Client, pair: services.TokenPair) -> None:
    token = pair.access_token
    assert me(client, token).status_code == 200
    assert services.verified_cache.get(token) is not None  # verified once, now served from cache
    header, payload, signature = token.split(".")

    sig = bytearray(unb64(signature))
    sig[10] ^= 0x01
    claims_bytes = bytearray(unb64(payload))
    at = claims_bytes.index(b'"jti":"') + 8
    claims_bytes[at] = ord("0") if claims_bytes[at] != ord("0") else ord("1")
    header_bytes = unb64(header).replace(b'"typ":"at+jwt"', b'"typ":"at+jwt" ', 1)
    header_bytes2 = bytearray(unb64(header))
    k = header_bytes2.index(b'"kid":"') + 8
    header_bytes2[k] = ord("A") if header_bytes2[k] != ord("A") else ord("B")

    tampered = [
        f"{header}.{payload}.{b64(bytes(sig))}",
        f"{header}.{b64(bytes(claims_bytes))}.{signature}",
        f"{b64(header_bytes)}.{payload}.{signature}",
        f"{b64(bytes(header_bytes2))}.{payload}.{signature}",
        f"{header}.{payload}.{_flip_char(signature, 20)}",
        f"{header}.{_flip_char(payload, 20)}.{signature}",
        f"{_flip_char(header, 10)}.{payload}.{signature}",
    ]
    for forged in tampered:
        assert forged != token
        assert_invalid_token(me(client, forged))
    # The genuine token is still accepted (from the cache): the refusals were about the bytes.
    assert me(client, token).status_code == 200


def test_other_spellings_of_the_same_signature_are_refused(client: Client, pair: services.TokenPair) -> None:
    # base64 decoders ignore the 4 spare bits of the 86th character and "=" padding: these
    # spellings decode to the very same signature bytes, yet are not the token we issued.
    token = pair.access_token
    assert me(client, token).status_code == 200
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    assert last % 16 == 0
    respelled = token[:-1] + alphabet[last + 1]
    assert unb64(respelled.split(".")[2]) == unb64(token.split(".")[2])
    for variant in (respelled, token + "==", token[:-1] + alphabet[last + 15]):
        assert_invalid_token(me(client, variant))


@pytest.mark.parametrize("suffix", [".", ".x", "..", ".e30", "x", "=", "==", " x", "\tjunk", ".eyJ9.abc"])
def test_trailing_data_is_refused(client: Client, pair: services.TokenPair, suffix: str) -> None:
    assert me(client, pair.access_token).status_code == 200  # cached now
    assert_invalid_token(me(client, pair.access_token + suffix))


@pytest.mark.parametrize("token", [
    "a.b.c", "!!!.@@@.###", "....", "..", ".", "e30.e30.", "e30.e30.e30", "eyJhbGciOiJFZERTQSJ9",
    "%%%%.%%%%.%%%%", "eyJ$$.eyJ$$.$$", "bnVsbA.bnVsbA.bnVsbA", "W10.W10.W10", "IiI.IiI.IiI",
    "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6eyJhIjoxfX0.e30.AAAA",
])
def test_non_base64_and_non_json_tokens_are_refused(client: Client, pair: services.TokenPair, token: str) -> None:
    assert_invalid_token(me(client, token))


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer", "", "Bearer\x00x"])
def test_a_missing_or_wrong_scheme_is_refused(client: Client, header: str) -> None:
    assert_invalid_token(client.get(ME, HTTP_AUTHORIZATION=header))


def test_a_non_ascii_token_is_refused(client: Client, pair: services.TokenPair) -> None:
    # A header value decoded as latin-1 by the ASGI handler: é, ÿ and friends must not crash.
    assert_invalid_token(me(client, pair.access_token[:-2] + "é"))
    assert_invalid_token(me(client, "ÿ" * 40))


def test_a_100_kb_authorization_header_is_refused(client: Client, pair: services.TokenPair) -> None:
    assert_invalid_token(me(client, "A" * 100 * 1024))
    assert_invalid_token(me(client, pair.access_token + "." + "A" * 100 * 1024))


def test_the_token_of_a_deleted_user_is_refused(client: Client, user: User, pair: services.TokenPair) -> None:
    assert me(client, pair.access_token).status_code == 200
    user.delete()
    assert_invalid_token(me(client, pair.access_token))
    response = client.post(REFRESH, {"refresh_token": pair.refresh_token}, content_type="application/json")
    assert response.status_code == 401


def test_the_token_of_a_user_deleted_through_a_queryset_is_refused(client: Client, user: User,
                                                                   pair: services.TokenPair) -> None:
    assert me(client, pair.access_token).status_code == 200
    User.objects.filter(pk=user.pk).delete()
    assert_invalid_token(me(client, pair.access_token))
    assert_invalid_token(client.get("/api/v1/auth/sessions", HTTP_AUTHORIZATION=f"Bearer {pair.access_token}"))


def test_the_tokens_of_a_deactivated_user_are_refused(client: Client, user: User, pair: services.TokenPair) -> None:
    assert me(client, pair.access_token).status_code == 200
    user.is_active = False
    user.save()
    assert_invalid_token(me(client, pair.access_token))
    assert_invalid_token(client.get("/api/v1/auth/sessions", HTTP_AUTHORIZATION=f"Bearer {pair.access_token}"))
    response = client.post(REFRESH, {"refresh_token": pair.refresh_token}, content_type="application/json")
    assert response.status_code == 401


def test_the_tokens_of_a_user_deactivated_by_a_queryset_update_are_refused(client: Client, user: User,
                                                                           pair: services.TokenPair) -> None:
    assert me(client, pair.access_token).status_code == 200  # the profile is cached now
    # queryset.update() sends no model signal; UserQuerySet.update announces it like a save.
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert Session.objects.get().revoked_at is not None
    assert_invalid_token(me(client, pair.access_token))
    assert_invalid_token(client.get("/api/v1/auth/sessions", HTTP_AUTHORIZATION=f"Bearer {pair.access_token}"))
    response = client.post(REFRESH, {"refresh_token": pair.refresh_token}, content_type="application/json")
    assert response.status_code == 401


# --- The same through a real uvicorn: a huge header is a clean 4xx, not a dropped connection ---

@pytest.mark.server
def test_a_huge_authorization_header_is_a_clean_4xx_through_uvicorn(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    user = User.objects.create_user("big@example.com", PASSWORD)
    pair = issue_pair(user)
    with live_server_factory(workers=1) as base:
        for size in (8 * 1024, 100 * 1024, 1024 * 1024):
            with httpx.Client(base_url=base, timeout=10) as http:
                response = http.get(ME, headers={"Authorization": "Bearer " + "A" * size})
            assert 400 <= response.status_code < 500, (size, response.status_code, response.text[:200])
            if response.status_code == 401:
                assert response.json()["error"] == "invalid_token"
        with httpx.Client(base_url=base, timeout=10) as http:
            # The server is still healthy and the genuine token still works.
            assert http.get(ME, headers={"Authorization": f"Bearer {pair.access_token}"}).status_code == 200
