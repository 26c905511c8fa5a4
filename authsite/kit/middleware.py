"""Natively async middleware (no thread hop per request under ASGI)."""

from __future__ import annotations

import contextvars
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from authsite.kit import metrics
from authsite.kit.errors import error_response

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


def _hsts() -> str:
    value = f"max-age={settings.SECURE_HSTS_SECONDS}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return value


def api_headers(secure: bool) -> dict[str, str]:
    """The security headers of every API answer."""
    if settings.SECURE_HSTS_SECONDS and secure:
        # SecurityMiddleware adds this to browser pages; API paths skip that stack.
        return {**API_HEADERS, "Strict-Transport-Security": _hsts()}
    return API_HEADERS


def request_id_for(incoming: str) -> str:
    """The request id: a sane incoming X-Request-ID, else a new one."""
    # 24 hex digits: never mistaken for an MD5 or SHA-1 digest, which the log scrubber removes.
    # A correlation id, not a secret: the fast generator will do (no system call per request).
    return incoming if _SAFE_ID.match(incoming) else f"{random.getrandbits(96):024x}"


HOST_CHECKED_PREFIXES = ("/api/", "/.well-known/")


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
        if request.path.startswith(HOST_CHECKED_PREFIXES):
            # The browser stack checks ALLOWED_HOSTS through CommonMiddleware; the API skips
            # that stack, so check here. Liveness/readiness/metrics stay reachable by IP (probes).
            try:
                request.get_host()
            except DisallowedHost:
                return error_response(400, "bad_request", "Invalid Host header.")
        rid = request_id_for(request.headers.get("X-Request-ID", ""))
        token = request_id.set(rid)
        request.request_id = rid  # type: ignore[attr-defined]  # for logs written after this returns
        started = time.perf_counter()
        try:
            response = await self.get_response(request)
        finally:
            request_id.reset(token)
        metrics.observe_request(request, response.status_code, time.perf_counter() - started)
        response["X-Request-ID"] = rid
        if is_api_path(request.path):
            for name, value in api_headers(request.is_secure()).items():
                response.headers.setdefault(name, value)
        return response


class BrowserOnlyMiddleware:
    """Run settings.BROWSER_MIDDLEWARE (sessions, CSRF, messages…) only for browser pages.

    The JSON API uses none of them, and each costs a thread hop under ASGI. Django calls the
    `process_view` hooks only of middleware listed in MIDDLEWARE, so this one relays the call to
    the browser middleware's hooks (CsrfViewMiddleware checks the token there), for every view.
    """

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: GetResponse):
        self.get_response = get_response
        chain: Callable[[HttpRequest], Awaitable[HttpResponse]] = get_response
        view_hooks: list[Callable[..., Any]] = []
        for path in reversed(settings.BROWSER_MIDDLEWARE):
            chain = import_string(path)(chain)
            assert iscoroutinefunction(chain), path
            hook = getattr(chain, "process_view", None)
            if hook is not None:
                view_hooks.insert(0, hook if iscoroutinefunction(hook) else sync_to_async(hook))
        self.browser_chain = chain
        self.view_hooks = view_hooks
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request.path):
            return await self.get_response(request)
        return await self.browser_chain(request)

    async def process_view(self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...],
                           kwargs: dict[str, Any]) -> HttpResponse | None:
        if is_api_path(request.path):
            return None
        for hook in self.view_hooks:
            response = await hook(request, view, args, kwargs)
            if response is not None:
                return response
        return None
