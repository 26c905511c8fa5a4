"""Authentication backend for Django's own login pages (the admin): the API's login policy.

Django's ModelBackend would look the email up as typed, hash on the request thread without
bound and ignore the throttles. This backend sends every attempt through
accounts.services.authenticate instead: canonical email, the same three throttles, the same
hashing work on every failure, the bounded hashing pool, and compare-and-swap hash upgrades.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts import services
from accounts.exceptions import AccountError, TooManyAttempts
from authsite.kit.exceptions import ValidationFailed
from accounts.models import User
from authsite.kit.http import client_ip

# Address used for throttling when Django calls authenticate() without a request (shell).
NO_REQUEST_IP = "local"
# Set on the request when an attempt was refused by throttling: seconds until it may retry.
LOCKED_FOR = "authsite_locked_for"
# Set on the request after a successful login: the known-client token for its cookie.
CLIENT_TOKEN = "authsite_client_token"


class EmailBackend(ModelBackend):
    """Email + password login for browser pages; None for every failed or refused attempt."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None,
                     password: str | None = None, **kwargs: Any) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if not isinstance(username, str) or not isinstance(password, str):
            return None
        ip = client_ip(request) if request is not None else NO_REQUEST_IP
        try:
            known = request.COOKIES.get(settings.KNOWN_CLIENT_COOKIE) if request is not None else None
            attempt = services.login_attempt(username, password, ip, known)
            user = services.authenticate(attempt, password)
            if request is not None:
                setattr(request, CLIENT_TOKEN, attempt.client_token(user))  # accounts.middleware sets the cookie
            return user
        except TooManyAttempts as exc:
            # The page says so (accounts.admin.LoginForm): the same words whether or not the
            # account exists, as the throttle counts unknown emails too.
            if request is not None:
                setattr(request, LOCKED_FOR, exc.retry_after)
            return None
        except (AccountError, ValidationFailed):
            # Invalid, throttled, overloaded or malformed: a page shows one generic error.
            return None
