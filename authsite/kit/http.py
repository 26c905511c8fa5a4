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
    if not body.strip():
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


# Throttling bucket for requests whose peer address the ASGI server rewrote from a header.
REWRITTEN_PEER = "untrusted-forwarded"


def client_ip(request: HttpRequest) -> str:
    """The caller's address: the socket peer, or the X-Forwarded-For entry added by the
    outermost of TRUSTED_PROXY_COUNT trusted proxies. A forged header from an untrusted
    peer changes nothing."""
    peer = request.META.get("REMOTE_ADDR") or "unknown"
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        if request.META.get("REMOTE_PORT") == 0 and "HTTP_X_FORWARDED_FOR" in request.META:
            # uvicorn started without --no-proxy-headers replaced the peer with a header value
            # (it marks that with port 0). The real peer is lost; with no trusted proxy, every
            # such request counts as one client rather than as whoever the header claims.
            return REWRITTEN_PEER
        return peer
    chain = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(chain) < hops:
        return peer
    candidate = chain[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer
