"""The pages behind mailed links: the token moves into the session, never stays in a URL or log."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from django.core import mail as django_mail
from django.test import Client

from accounts import linktokens
from accounts.models import User
from authsite.kit.logging import JsonFormatter, scrub
from tests.support import broker
from tests.support.client_api import API, PASSWORD, login, post_json

FORGOT = "/account/password-reset"
CONFIRM = "/account/password-reset/confirm"
VERIFIED = "/account/verify-email"
NEW_PASSWORD = "a brand new passphrase 2031"


class Browser(Client):
    """A browser on HTTPS (production settings redirect plain HTTP) that sends CSRF tokens."""

    def __init__(self) -> None:
        super().__init__(enforce_csrf_checks=True)

    def get(self, path: str, data: Any = None, **extra: Any) -> Any:  # type: ignore[override]
        return super().get(path, data, secure=True, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:  # type: ignore[override]
        # A browser's HTTPS form post names where it comes from; Django's CSRF check wants it.
        extra.setdefault("HTTP_ORIGIN", "https://testserver")
        extra.setdefault("HTTP_REFERER", f"https://testserver{path}")
        return super().post(path, data, secure=True, **extra)


@pytest.fixture
def browser() -> Browser:
    return Browser()


def csrf(response: Any) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert found, response.content.decode()
    return found.group(1)


def submit(browser: Browser, path: str, page: Any, **fields: str) -> Any:
    return browser.post(path, {"csrfmiddlewaretoken": csrf(page), **fields})


def open_link(browser: Browser, path: str, token: str) -> Any:
    """Follow a mailed link: the token goes into the session and the page redirects without it."""
    response = browser.get(path, {"token": token})
    assert response.status_code == 302 and response["Location"] == path  # no query string left
    return browser.get(path)


@pytest.mark.django_db
def test_forgot_password_page_queues_a_reset_mail(browser: Browser, user: User) -> None:
    page = browser.get(FORGOT)
    assert page.status_code == 200 and b'name="email"' in page.content
    done = submit(browser, FORGOT, page, email="ALICE@example.com")
    assert done.status_code == 200 and b"Check your mail" in done.content
    assert [q.args for q in broker.run_all()] == [[user.pk]]
    assert len(django_mail.outbox) == 1
    unknown = submit(browser, FORGOT, browser.get(FORGOT), email="nobody@example.com")
    assert unknown.status_code == 200 and b"Check your mail" in unknown.content
    bad = submit(browser, FORGOT, browser.get(FORGOT), email="not an address")
    assert bad.status_code == 400


@pytest.mark.django_db
def test_set_a_new_password_through_the_link(browser: Browser, api: Client, user: User) -> None:
    old = login(api, user.email)
    # Made after the login: a login changes the state reset tokens are bound to.
    token = linktokens.password_reset.make_link_token(User.objects.get(pk=user.pk))
    page = open_link(browser, CONFIRM, token)
    assert page.status_code == 200 and b'name="new_password1"' in page.content
    assert token.encode() not in page.content
    differ = submit(browser, CONFIRM, page, new_password1=NEW_PASSWORD, new_password2=NEW_PASSWORD + "x")
    assert differ.status_code == 400 and b"differ" in differ.content
    weak = submit(browser, CONFIRM, page, new_password1="short", new_password2="short")
    assert weak.status_code == 400 and b"too short" in weak.content
    done = submit(browser, CONFIRM, page, new_password1=NEW_PASSWORD, new_password2=NEW_PASSWORD)
    assert done.status_code == 200 and b"Password changed" in done.content
    login(api, user.email, NEW_PASSWORD)
    assert api.get(f"{API}/me", HTTP_AUTHORIZATION=f"Bearer {old['access_token']}").status_code == 401
    # The link is spent.
    again = open_link(Browser(), CONFIRM, token)
    assert again.status_code == 400 and b"not valid" in again.content


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["", "garbage", "1-2-" + "0" * 32, "x" * 500])
def test_an_invalid_reset_link_shows_the_invalid_page(browser: Browser, user: User, token: str) -> None:
    page = open_link(browser, CONFIRM, token)
    assert page.status_code == 400 and b"not valid" in page.content


@pytest.mark.django_db
def test_the_confirm_page_without_a_link_is_invalid(browser: Browser) -> None:
    page = browser.get(CONFIRM)
    assert page.status_code == 400 and b"not valid" in page.content
    assert browser.post(CONFIRM, {}).status_code == 403  # no CSRF token


@pytest.mark.django_db
def test_forms_refuse_a_post_without_the_csrf_token(browser: Browser, user: User) -> None:
    browser.get(FORGOT)  # the CSRF cookie is set; the form field is missing below
    assert browser.post(FORGOT, {"email": user.email}).status_code == 403
    assert broker.take_all() == []
    page = open_link(browser, CONFIRM, linktokens.password_reset.make_link_token(user))
    refused = browser.post(CONFIRM, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert refused.status_code == 403
    assert submit(browser, CONFIRM, page, new_password1=NEW_PASSWORD, new_password2=NEW_PASSWORD).status_code == 200


@pytest.mark.django_db
def test_email_verified_page(browser: Browser, user: User) -> None:
    token = linktokens.email_verification.make_link_token(user)
    page = open_link(browser, VERIFIED, token)
    assert page.status_code == 200 and b"Email verified" in page.content
    assert User.objects.get(pk=user.pk).email_verified
    again = open_link(browser, VERIFIED, token)
    assert again.status_code == 400 and b"not valid" in again.content
    assert browser.get(VERIFIED).status_code == 400  # no token in the session any more


def test_a_link_token_in_an_access_log_line_is_redacted() -> None:
    token = "3f-cjz9k2-0123456789abcdef0123456789abcdef"
    line = f'127.0.0.1:5555 - "GET /account/password-reset/confirm?token={token} HTTP/1.1" 302'
    assert token not in scrub(line)
    assert "/account/password-reset/confirm?token=[redacted] HTTP/1.1" in scrub(line)
    # Through the formatter the access log uses, with uvicorn's own record shape.
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5555", "GET", f"/account/verify-email?lang=en&token={token}", "1.1", 302),
                               None)
    formatted = JsonFormatter().format(record)
    assert token not in formatted and "lang=en&token=[redacted]" in formatted


@pytest.mark.django_db
def test_api_and_pages_share_one_link(api: Client, user: User) -> None:
    token = linktokens.password_reset.make_link_token(user)
    response = post_json(api, f"{API}/password-reset/confirm", {"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 204
    page = open_link(Browser(), CONFIRM, token)
    assert page.status_code == 400
    assert post_json(api, f"{API}/login", {"email": user.email, "password": PASSWORD}).status_code == 401
