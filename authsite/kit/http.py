"""Small JSON-over-HTTP helpers shared by the API views (orjson, no DRF on the hot path)."""

from __future__ import annotations

import ipaddress
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from authsite.kit.exceptions import ValidationFailed

JSON = "application/json"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(data), status=status, content_type=JSON, headers=headers)
    return response


def no_content() -> HttpResponse:
    response = HttpResponse(status=204)
    del response["Content-Type"]
    return response


def read_json_object(request: HttpRequest, *, optional: bool = False) -> dict[str, Any]:
    """Parse the request body as a JSON object, or raise ValidationFailed.

    With `optional`, an empty body is an empty object.
    """
    body = request.body
    # JSON's whitespace only: a body of other blanks (a vertical tab) is not empty but invalid.
    if not body.strip(b" \t\n\r"):
        if optional:
            return {}
        raise ValidationFailed("Request body must be a JSON object.")
    content_type = request.content_type or ""
    if content_type != JSON and not content_type.endswith("+json"):
        raise ValidationFailed("Content-Type must be application/json.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed("Request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("Request body must be a JSON object.")
    return data


def string_fields(data: dict[str, Any], *names: str, max_length: int | None = None) -> list[str]:
    """Return the named fields, each required to be a string; errors name every bad field."""
    errors: dict[str, list[str]] = {}
    values: list[str] = []
    for name in names:
        value = data.get(name)
        if value is None:
            errors[name] = ["This field is required."]
        elif not isinstance(value, str):
            errors[name] = ["Must be a string."]
        elif "\x00" in value:
            errors[name] = ["Must not contain NUL characters."]
        elif max_length is not None and len(value) > max_length:
            errors[name] = [f"Must be at most {max_length} characters."]
        values.append(value if isinstance(value, str) else "")
    if errors:
        raise ValidationFailed("Invalid input.", errors)
    return values


# The address a request counts as when its real peer is unknown: the ASGI server replaced it
# with a header value that no trusted proxy vouches for. One shared bucket, still an IP literal.
UNKNOWN_CLIENT = "0.0.0.0"


def ip_literal(value: str) -> str | None:
    """The IP address in `value` ("203.0.113.9", "203.0.113.9:1", "[2001:db8::1]:443",
    "2001:db8::1"), normalised; None when there is none."""
    text = value.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The caller's address, always an IP literal: the X-Forwarded-For entry added by the
    outermost of TRUSTED_PROXY_COUNT trusted proxies, else the socket peer.

    Nothing else in a header counts, whatever the ASGI server was told: when uvicorn rewrote
    the peer from X-Forwarded-For (its proxy-header support, with any port), the peer is one of
    the header's entries, a value the client may have chosen; such requests all count as
    UNKNOWN_CLIENT."""
    chain = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0 and len(chain) >= hops:
        vouched = ip_literal(chain[-hops])
        if vouched is not None:
            return vouched
    peer = ip_literal(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return UNKNOWN_CLIENT
    if chain and (request.META.get("REMOTE_PORT") == 0 or peer in {ip_literal(entry) for entry in chain}):
        return UNKNOWN_CLIENT
    return peer
