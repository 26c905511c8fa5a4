"""Which person a browser is: the tokens Session whose id the Django session cookie carries.

Every page request checks that Session again (tokens.browser.alive), so a session revoked
anywhere (logout-all, staff, a password change, a deactivation) ends the browser login at once.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from tokens import browser
from tokens.models import Session

SESSION_KEY = "authsite_session_id"
NOTICE_KEY = "authsite_notice"

View = Callable[..., Awaitable[HttpResponse]]


async def acurrent(request: HttpRequest) -> Session | None:
    """The live tokens Session of this browser, or None (and the stale id is forgotten)."""
    session_id = await request.session.aget(SESSION_KEY)
    if not isinstance(session_id, str):
        return None
    session = await browser.alive(session_id)
    if session is None:
        await request.session.aflush()
    return session


async def abegin(request: HttpRequest, session_id: str) -> None:
    """Bind this browser to a new login: a fresh cookie value (no session fixation)."""
    await request.session.acycle_key()
    await request.session.aset(SESSION_KEY, session_id)


async def aforget(request: HttpRequest) -> None:
    """Drop this browser's login and everything stored with it (a new, empty cookie value)."""
    await request.session.aflush()


async def anotify(request: HttpRequest, text: str) -> None:
    """A one-time notice shown on the next page."""
    await request.session.aset(NOTICE_KEY, text)


async def anotice(request: HttpRequest) -> str:
    value = await request.session.apop(NOTICE_KEY, "")
    return value if isinstance(value, str) else ""


def login_required(view: View) -> View:
    """Run `view` with `request.browser_session` set, or send the browser to the login page."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        session = await acurrent(request)
        if session is None:
            return HttpResponseRedirect(reverse("pages:login"))
        request.browser_session = session  # type: ignore[attr-defined]
        return await view(request, *args, **kwargs)

    return wrapper
