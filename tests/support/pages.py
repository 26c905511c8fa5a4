"""Helpers for the end-user page tests (pages/): a browser-like test client over HTTPS."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from accounts import attempts
from accounts.models import LoginAttempt

PASSWORD = "correct horse battery staple"
UA = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


def browser(enforce_csrf: bool = False) -> Client:
    """A client that talks HTTPS (as production does) and says which browser it is."""
    return Client(enforce_csrf_checks=enforce_csrf, HTTP_USER_AGENT=UA)


def get(client: Client, path: str) -> Any:
    return client.get(path, secure=True)


def post(client: Client, path: str, data: dict[str, str] | None = None, **extra: Any) -> Any:
    return client.post(path, data or {}, secure=True, **extra)


def log_in(client: Client, email: str, password: str = PASSWORD) -> Any:
    response = post(client, "/account/login/", {"email": email, "password": password})
    assert response.status_code == 302 and response["Location"] == "/account/", response.content[:500]
    return response


def text(response: Any) -> str:
    """The page's visible text, roughly (tags removed, whitespace folded)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def logged_attempts() -> list[LoginAttempt]:
    """Write the queued audit rows now and return every row, oldest first."""
    attempts.flush()
    return list(LoginAttempt.objects.order_by("at", "pk"))
