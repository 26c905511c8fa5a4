"""Access-token JWT encoding and verification. The only module that imports PyJWT.

Access tokens are EdDSA (Ed25519) JWTs with header `typ: at+jwt` and `kid`. Verification pins
the algorithm, requires every claim and checks typ, iss, aud, exp and lifetime.
"""

from __future__ import annotations

import re
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from tokens.exceptions import InvalidToken

ALGORITHM = "EdDSA"
TYP = "at+jwt"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti", "sid"]
# Our kids are RFC 7638 thumbprints (43 characters): a longer one cannot be ours.
MAX_KID_LENGTH = 64
# Three unpadded base64url segments; an Ed25519 signature is 64 bytes = 86 characters whose last
# one carries 4 zero bits. PyJWT alone also accepts "=" padding and non-zero spare bits, so one
# token would have many spellings (trailing "==" or a changed last character still verifying).
_COMPACT_EDDSA = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{85}[AQgw]\Z")


def encode_access(claims: dict[str, Any], key: Ed25519PrivateKey, kid: str) -> str:
    return pyjwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": TYP})


def unverified_kid(token: str) -> str:
    """The `kid` of a token's header, after checking the header's shape (no signature check)."""
    if not _COMPACT_EDDSA.match(token):
        raise InvalidToken("malformed")
    try:
        header = pyjwt.get_unverified_header(token)
    except pyjwt.PyJWTError as exc:
        raise InvalidToken("malformed") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("algorithm")
    if header.get("typ") != TYP:
        raise InvalidToken("typ")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise InvalidToken("kid")
    return kid


def decode_access(token: str, key: Ed25519PublicKey) -> dict[str, Any]:
    """Verify signature and claims; return the claims or raise InvalidToken."""
    try:
        claims = pyjwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            leeway=settings.JWT_LEEWAY,
            options={"require": REQUIRED_CLAIMS, "strict_aud": True},
        )
    except pyjwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from exc
    iat, exp = claims["iat"], claims["exp"]
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise InvalidToken("claims")
    # Refuse lifetimes we never issue: a token "valid for a year" is not one of ours.
    if exp - iat > settings.ACCESS_TOKEN_TTL + settings.JWT_LEEWAY:
        raise InvalidToken("lifetime")
    if not isinstance(claims["sid"], str) or not isinstance(claims["sub"], str) or not (claims["sub"].isascii() and claims["sub"].isdigit()):
        raise InvalidToken("claims")
    return claims
