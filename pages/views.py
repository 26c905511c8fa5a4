"""The pages: parse the form, call the same services as the API, render or redirect.

Every form posts with a CSRF token (csrf_protect here as well as the middleware), and every
page that shows an account is rendered only for a live session (pages.session).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_protect

from accounts import services as accounts
from accounts.backends import CLIENT_TOKEN
from accounts.exceptions import AccountError
from authsite.kit.exceptions import ValidationFailed
from authsite.kit.http import client_ip, string_fields
from pages import session as browser_session
from pages.messages import FormErrors
from tokens import browser
from tokens.exceptions import SessionNotFound

FORM_METHODS = ("GET", "POST")
# Personal pages must not be kept by a shared browser's cache or a proxy.
PRIVATE = {"Cache-Control": "no-store"}


def _fields(request: HttpRequest, *names: str) -> list[str]:
    """The named form fields, checked as the API checks its JSON fields (present, no NUL)."""
    return string_fields({name: request.POST.get(name) for name in names}, *names)


def _page(request: HttpRequest, template: str, context: dict[str, object], status: int = 200) -> HttpResponse:
    response = render(request, f"pages/{template}", context, status=status)
    for name, value in PRIVATE.items():
        response[name] = value
    return response


def _redirect(name: str) -> HttpResponse:
    return HttpResponseRedirect(reverse(f"pages:{name}"))


def _user_agent(request: HttpRequest) -> str:
    return request.headers.get("User-Agent", "")[:256]


async def _form_or_account(request: HttpRequest) -> HttpResponse | None:
    """The answer to a request a form page does not serve: a wrong method, or a person who is
    already logged in (sent to their account); None when the form should be shown or handled."""
    if request.method not in FORM_METHODS:
        return HttpResponseNotAllowed(FORM_METHODS)
    if await browser_session.acurrent(request) is not None:
        return _redirect("account")
    return None


@csrf_protect
async def signup(request: HttpRequest) -> HttpResponse:
    if (early := await _form_or_account(request)) is not None:
        return early
    errors, email = FormErrors(), ""
    if request.method == "POST":
        email = request.POST.get("email", "")
        try:
            email, password = _fields(request, "email", "password")
            await accounts.asignup(email, password, client_ip(request))
        except (AccountError, ValidationFailed) as exc:
            errors = FormErrors.of(exc)
        else:
            await browser_session.anotify(request, "Your account is ready. Log in with your email and password.")
            return _redirect("login")
    return _page(request, "signup.html", {"email": email, **errors.for_template("email")},
                 status=400 if errors else 200)


@csrf_protect
async def login(request: HttpRequest) -> HttpResponse:
    if (early := await _form_or_account(request)) is not None:
        return early
    errors, email = FormErrors(), ""
    if request.method == "POST":
        email = request.POST.get("email", "")
        try:
            email, password = _fields(request, "email", "password")
            # A browser that logged in to this account before is a known client: strangers'
            # failures do not lock it out (accounts.known_clients).
            known = request.COOKIES.get(settings.KNOWN_CLIENT_COOKIE)
            attempt = accounts.login_attempt(email, password, client_ip(request), known)
            user = await accounts.aauthenticate(attempt, password, source="page")
            session_id = await browser.astart(user, attempt.ip, _user_agent(request))
        except (AccountError, ValidationFailed) as exc:
            errors = FormErrors.of(exc)
        else:
            await browser_session.abegin(request, session_id)
            setattr(request, CLIENT_TOKEN, attempt.client_token(user))  # the cookie: accounts.middleware
            return _redirect("account")
    notice = await browser_session.anotice(request)
    # After a refused password the person types it again: the focus goes there.
    first = "password" if email and errors else "email"
    return _page(request, "login.html", {"email": email, "notice": notice, **errors.for_template(first)},
                 status=400 if errors else 200)


@csrf_protect
async def logout(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    current = await browser_session.acurrent(request)
    if current is not None:
        try:
            await browser.aend(current.user_id, str(current.pk))
        except SessionNotFound:
            pass  # revoked meanwhile: the outcome is the same
    await browser_session.aforget(request)
    await browser_session.anotify(request, "You are logged out.")
    return _redirect("login")


@browser_session.login_required
async def account(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    return await _account_page(request, FormErrors())


async def _account_page(request: HttpRequest, password_errors: FormErrors, status: int = 200) -> HttpResponse:
    current = request.browser_session  # type: ignore[attr-defined]
    sessions = await browser.alist(current.user_id, str(current.pk))
    return _page(request, "account.html", {
        "account": current.user, "sessions": sessions, "notice": await browser_session.anotice(request),
        **password_errors.for_template(),
    }, status=status)


@csrf_protect
@browser_session.login_required
async def end_session(request: HttpRequest, session_id: str) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    current = request.browser_session  # type: ignore[attr-defined]
    try:
        await browser.aend(current.user_id, session_id)
    except SessionNotFound:
        await browser_session.anotify(request, "That session had already ended.")
        return _redirect("account")
    if session_id == str(current.pk):
        await browser_session.aforget(request)
        await browser_session.anotify(request, "You are logged out of this device.")
        return _redirect("login")
    await browser_session.anotify(request, "That device is logged out.")
    return _redirect("account")


@csrf_protect
@browser_session.login_required
async def logout_everywhere(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    await browser.aend_all(request.browser_session.user_id)  # type: ignore[attr-defined]
    await browser_session.aforget(request)
    await browser_session.anotify(request, "You are logged out everywhere: every session of your account has ended.")
    return _redirect("login")


@csrf_protect
@browser_session.login_required
async def change_password(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    current = request.browser_session  # type: ignore[attr-defined]
    try:
        current_password, new_password = _fields(request, "current_password", "new_password")
        await accounts.achange_password(current.user_id, current_password, new_password, client_ip(request))
    except (AccountError, ValidationFailed) as exc:
        return await _account_page(request, FormErrors.of(exc), status=400)
    # The change ended every session of the account, this one included.
    await browser_session.aforget(request)
    await browser_session.anotify(request, "Your password is changed and every session has ended. "
                                           "Log in with your new password.")
    return _redirect("login")
