"""The ASGI door in front of Django for API paths: a body-size limit and load shedding.

Both refusals are answered here, before Django builds a request or runs any middleware:

- a body larger than settings.API_MAX_BODY_BYTES (declared or streamed) gets 413;
- a request to a guarded route (`Guard`) whose check refuses it, for instance a login while the
  hashing pool is full, gets the answer the error table (settings.API_ERROR_TABLE) gives that
  exception, with the API's security headers and a request id. Such a refusal costs the event
  loop little more than uvicorn's HTTP parsing of the request.

The body of every other API request is read here once and replayed to Django.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings

from authsite.kit import metrics
from authsite.kit.errors import error_body, response_for
from authsite.kit.middleware import api_headers, request_id_for

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Any]


@dataclass(frozen=True)
class Guard:
    """A check run at the door for `method` requests to one route: it returns the exception to
    answer with (never raised: a flood of tracebacks would feed the cycle collector), or None."""

    endpoint: str  # the route name, for the request metrics
    method: str
    check: Callable[[], Exception | None]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def _is_secure(scope: Scope) -> bool:
    """Whether the request came over https, as Django's HttpRequest.is_secure() decides (a
    trusted proxy's SECURE_PROXY_SSL_HEADER first, else the connection's scheme)."""
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, expected = proxy
        value = _header(scope, name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1"))
        if value is not None:
            return value.decode("latin-1").split(",", 1)[0].strip() == expected
    return scope.get("scheme") == "https"


async def _answer(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _too_large(send: Any, limit: int) -> None:
    body = orjson.dumps(error_body("payload_too_large", f"Request body exceeds {limit} bytes."))
    await _answer(send, 413, [(b"content-type", b"application/json"), (b"connection", b"close")], body)


class Door:
    """Wraps the Django ASGI application `app`; `guards` maps paths to their Guard."""

    def __init__(self, app: ASGIApp, guards: Mapping[str, Guard]):
        self.app = app
        self.guards = dict(guards)
        # Rendered refusals by exception class, Retry-After and https: a flood repeats the same few.
        self._refusals: dict[tuple[type[Exception], object, bool], tuple[int, list[tuple[bytes, bytes]], bytes]] = {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(settings.API_PATH_PREFIXES):
            await self.app(scope, receive, send)
            return
        limit = settings.API_MAX_BODY_BYTES
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = True
            if too_large:
                await _too_large(send, limit)
                return
        guard = self.guards.get(scope["path"])
        if guard is not None and scope["method"] == guard.method:
            refusal = guard.check()
            if refusal is not None:
                await self._refuse(scope, send, refusal, guard)
                return
        # Read the (small) body here, so a chunked upload cannot stream past the limit either.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        buffered: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            if buffered:
                return buffered.pop()
            return await receive()

        await self.app(scope, replay, send)

    def _rendered(self, exc: Exception, secure: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        key = (type(exc), getattr(exc, "retry_after", None), secure)
        rendered = self._refusals.get(key)
        if rendered is None:
            response = response_for(exc)
            headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                       for name, value in {**response.headers, **api_headers(secure)}.items()
                       if name.lower() != "content-length"]
            rendered = self._refusals[key] = (response.status_code, headers, response.content)
        return rendered

    async def _refuse(self, scope: Scope, send: Any, exc: Exception, guard: Guard) -> None:
        status, headers, body = self._rendered(exc, _is_secure(scope))
        rid = request_id_for((_header(scope, b"x-request-id") or b"").decode("latin-1"))
        await _answer(send, status, [*headers, (b"x-request-id", rid.encode())], body)
        metrics.observe(guard.endpoint, status, None)
