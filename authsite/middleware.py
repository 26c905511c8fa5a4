"""Natively async middleware (no thread hop per request under ASGI)."""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

GetResponse = Callable[[HttpRequest], Awaitable[HttpResponse]]
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def is_api_path(path: str) -> bool:
    return path.startswith(settings.API_PATH_PREFIXES)


class RequestContextMiddleware:
    """Request id (taken from a sane X-Request-ID or made up) and API security headers."""

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: GetResponse):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        try:
            response = await self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = rid
        if is_api_path(request.path):
            for name, value in API_HEADERS.items():
                response.headers.setdefault(name, value)
        return response


class BrowserOnlyMiddleware:
    """Run settings.BROWSER_MIDDLEWARE (sessions, CSRF, messages…) only for browser pages.

    The JSON API uses none of them, and each costs a thread hop under ASGI.
    """

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: GetResponse):
        self.get_response = get_response
        chain: Callable[[HttpRequest], Awaitable[HttpResponse]] = get_response
        for path in reversed(settings.BROWSER_MIDDLEWARE):
            chain = import_string(path)(chain)
            assert iscoroutinefunction(chain), path
        self.browser_chain = chain
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request.path):
            return await self.get_response(request)
        return await self.browser_chain(request)
