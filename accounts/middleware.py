"""Browser middleware of the accounts app (listed in settings.BROWSER_MIDDLEWARE)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from accounts.backends import CLIENT_TOKEN


class KnownClientCookieMiddleware(MiddlewareMixin):
    """After a successful admin login, keep the known-client token (accounts.known_clients) in
    a cookie: the next login from this browser is not locked out by others' failures."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        token = getattr(request, CLIENT_TOKEN, None)
        if token is not None:
            response.set_cookie(settings.KNOWN_CLIENT_COOKIE, token, max_age=settings.KNOWN_CLIENT_TTL,
                                secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Lax")
        return response
