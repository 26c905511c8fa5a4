"""Errors in the contract's shape, and the `api_endpoint` decorator that turns exceptions into them.

Every error body is {"error": CODE, "message": TEXT} plus "fields" for validation errors. Domain
exceptions stay HTTP-free: they derive from `ServiceError`, and the project's table
(settings.API_ERROR_TABLE, a mapping of exception class to `ErrorSpec`) says how each is answered.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.core.signals import setting_changed
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from authsite.kit.exceptions import ValidationFailed
from authsite.kit.http import json_response

logger = logging.getLogger("authsite.errors")


@dataclass(frozen=True)
class ErrorSpec:
    """How one kind of exception is answered over HTTP."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, object]:
    body: dict[str, object] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return body


def error_response(status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                   fields: dict[str, list[str]] | None = None) -> HttpResponse:
    return json_response(error_body(code, message, fields), status=status, headers=headers)


_table: list[Mapping[type[Exception], ErrorSpec]] = []


def error_table() -> Mapping[type[Exception], ErrorSpec]:
    """The project's exception -> ErrorSpec table (settings.API_ERROR_TABLE), loaded once."""
    if not _table:
        _table.append(import_string(settings.API_ERROR_TABLE))
    return _table[0]


def _reset(*, setting: str, **kwargs: object) -> None:
    if setting == "API_ERROR_TABLE":
        _table.clear()


setting_changed.connect(_reset)


def response_for(exc: Exception) -> HttpResponse:
    """Map any exception raised by a view to the contract's error response."""
    table = error_table()
    for klass in type(exc).__mro__:
        spec = table.get(klass)
        if spec is not None:
            break
    else:
        if isinstance(exc, (OperationalError, InterfaceError)):
            # The database is unreachable or restarting: a clean, retryable refusal.
            logger.warning("database unavailable: %s", type(exc).__name__)
            return error_response(503, "unavailable", "A dependency is unavailable. Try again shortly.",
                                  headers={"Retry-After": "1"})
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "Internal server error.")
    headers = dict(spec.headers)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    message = spec.message
    fields = None
    if isinstance(exc, ValidationFailed):
        message, fields = exc.message, exc.fields
    return error_response(spec.status, spec.code, message, headers=headers, fields=fields)


def api_endpoint(*methods: str, authenticated: bool = False):  # type: ignore[no-untyped-def]
    """Decorate an async JSON view: allowed methods, every error in the contract's shape, and
    with `authenticated`, the caller's credentials checked by settings.API_AUTHENTICATOR
    (which sets `request.auth`) before the view runs."""
    allowed = {m.upper() for m in methods}

    def decorate(view):  # type: ignore[no-untyped-def]
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            if request.method not in allowed:
                return error_response(405, "method_not_allowed", "Method not allowed.",
                                      headers={"Allow": ", ".join(sorted(allowed))})
            try:
                if authenticated:
                    await import_string(settings.API_AUTHENTICATOR)(request)
                return await view(request, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every error becomes a contract response
                return response_for(exc)

        wrapper.csrf_exempt = True  # type: ignore[attr-defined]  # token API, no cookies
        return wrapper

    return decorate
