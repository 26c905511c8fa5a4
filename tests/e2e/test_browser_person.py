"""A person in a real browser (Chromium) against a real uvicorn: signs up, logs in, sees their
sessions, logs out everywhere, and is told clearly about a wrong password and about throttling."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.browser import Shots, chromium, shots  # noqa: F401
from tests.support.live import PASSWORD, login as api_login

pytestmark = pytest.mark.server
EMAIL = "person@example.com"
# Plain http on localhost (no TLS in front); three failures from one address lock the account.
SERVER = {"DJANGO_SECURE_SSL_REDIRECT": "0", "THROTTLE_ACCOUNT_IP": "3/900"}


def test_sign_up_log_in_see_sessions_log_out_everywhere(live_server_factory, chromium, shots: Shots) -> None:  # type: ignore[no-untyped-def]
    with live_server_factory(**SERVER) as base:
        context = chromium.new_context(user_agent="Mozilla/5.0 authsite-browser-test")
        page = context.new_page()

        page.goto(f"{base}/account/signup/")
        assert page.title() == "Create an account · authsite"
        shots.take(page, "signup")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill("short")
        page.get_by_role("button", name="Create account").click()
        error = page.locator("#password-error")
        assert "This password is too short" in error.inner_text()
        assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"
        shots.take(page, "signup-weak-password")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(f"{base}/account/login/")
        assert "Your account is ready" in page.get_by_role("status").inner_text()
        shots.take(page, "login-after-signup")

        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill("not my password at all")
        page.get_by_role("button", name="Log in").click()
        assert page.get_by_role("alert").inner_text().strip() == "The email or password is incorrect."
        shots.take(page, "login-wrong-password")

        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/account/")
        pair = api_login(base, EMAIL)  # a second session, from an API client
        page.reload()
        rows = page.locator("table.sessions tbody tr")
        assert rows.count() == 2
        current = page.locator("tr.current")
        assert "This device" in current.inner_text() and "authsite-browser-test" in current.inner_text()
        shots.take(page, "account")

        phone = chromium.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
        phone.add_cookies(context.cookies())
        phone_page = phone.new_page()
        phone_page.goto(f"{base}/account/")
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width  # nothing wider than the phone's screen
        shots.take(phone_page, "account-on-a-phone")
        phone.close()

        page.get_by_role("button", name="Log out everywhere").click()
        page.wait_for_url(f"{base}/account/login/")
        assert "logged out everywhere" in page.get_by_role("status").inner_text()
        shots.take(page, "logged-out-everywhere")
        me = httpx.get(f"{base}/api/v1/auth/me", headers=pair.auth)
        assert me.status_code == 401  # the API session ended too
        page.goto(f"{base}/account/")
        assert page.url == f"{base}/account/login/"
        context.close()


def test_a_throttled_login_says_when_to_try_again(live_server_factory, chromium, shots: Shots) -> None:  # type: ignore[no-untyped-def]
    with live_server_factory(**SERVER) as base:
        httpx.post(f"{base}/api/v1/auth/signup", json={"email": EMAIL, "password": PASSWORD}).raise_for_status()
        context = chromium.new_context()
        page = context.new_page()
        page.goto(f"{base}/account/login/")
        # Keyboard order from the top: skip link, the site link, the page's nav, then the form
        # in reading order.
        page.locator("a.skip").focus()
        order = ["Skip to content"]
        for _ in range(5):
            page.keyboard.press("Tab")
            order.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
        assert order == ["Skip to content", "authsite", "Create an account", "email", "password", "Log in"], order
        for _ in range(3):
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill("a wrong guess, again")
            page.get_by_role("button", name="Log in").click()
            assert page.get_by_role("alert").inner_text().strip() == "The email or password is incorrect."
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        message = page.get_by_role("alert").inner_text()
        assert re.search(r"Too many attempts\. Try again in 1[45] minutes \(after \d\d:\d\d UTC\)\.", message), message
        assert page.url == f"{base}/account/login/"
        shots.take(page, "login-throttled")
        context.close()
