"""Bearer authentication for the API (settings.API_AUTHENTICATOR)."""

from __future__ import annotations

from django.http import HttpRequest

from tokens.exceptions import InvalidToken
from tokens.services import AccessClaims, aauthenticate_access


def bearer_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("missing")
    return token.strip()


async def aauthenticate(request: HttpRequest) -> AccessClaims:
    """Require a valid, unrevoked access token; set and return `request.auth`."""
    claims = await aauthenticate_access(bearer_token(request))
    request.auth = claims  # type: ignore[attr-defined]
    return claims
