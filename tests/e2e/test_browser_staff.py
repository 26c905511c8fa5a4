"""Staff in a real browser (Chromium) against a real uvicorn: log in to the admin, see the
dashboard, find a user by email, revoke their sessions (the API refuses their token at once),
filter users by hash status, look at a user's page, unlock a lockout, read the audit log."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import expect

from accounts.models import LoginAttempt, User
from tests.support.browser import Shots, chromium, shots  # noqa: F401
from tests.support.client_api import pbkdf2_hash
from tests.support.live import PASSWORD, login as api_login, signup

pytestmark = pytest.mark.server
STAFF = "staff@example.com"
SERVER = {"DJANGO_SECURE_SSL_REDIRECT": "0", "THROTTLE_ACCOUNT_IP": "2/900"}


def wait_for_attempts(count: int) -> None:
    """The server writes the audit log in the background: wait until `count` rows are there."""
    deadline = time.monotonic() + 20
    while LoginAttempt.objects.count() < count:
        assert time.monotonic() < deadline, f"{LoginAttempt.objects.count()} of {count} attempts written"
        time.sleep(0.2)


def test_staff_find_a_user_revoke_their_sessions_and_filter_by_hash_status(live_server_factory, chromium, shots: Shots) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_superuser(STAFF, PASSWORD)
    legacy = User.objects.create_user("legacy@example.com")
    User.objects.filter(pk=legacy.pk).update(password=pbkdf2_hash(PASSWORD))
    with live_server_factory(**SERVER) as base:
        signup(base, "member@example.com")
        pair = api_login(base, "member@example.com")
        for _ in range(2):  # lock out another account from this address
            httpx.post(f"{base}/api/v1/auth/login", json={"email": "legacy@example.com", "password": "wrong guess!"})
        wait_for_attempts(3)

        context = chromium.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.goto(f"{base}/admin/")
        assert page.url.startswith(f"{base}/admin/login/")
        shots.take(page, "admin-login")
        page.get_by_label("Email address").fill(STAFF)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/admin/")
        dashboard = page.locator("#dashboard")
        assert "At a glance" in dashboard.inner_text()
        assert "active sessions" in dashboard.inner_text()
        shots.take(page, "admin-dashboard")

        page.goto(f"{base}/admin/accounts/user/")
        page.locator("#searchbar").fill("MEMBER@Example.COM")
        page.locator("#changelist-search input[type=submit]").click()
        page.wait_for_url("**/admin/accounts/user/?q=*")
        rows = page.locator("#result_list tbody tr")
        assert rows.count() == 1 and "member@example.com" in rows.first.inner_text()
        assert "current" in rows.first.locator("td.field-hash_status").inner_text()
        shots.take(page, "users-search")

        assert httpx.get(f"{base}/api/v1/auth/me", headers=pair.auth).status_code == 200
        rows.first.locator("input.action-select").check()
        page.locator("select[name=action]").select_option("revoke_sessions")
        page.get_by_role("button", name="Go").click()
        expect(page.locator("ul.messagelist")).to_be_visible()
        assert "Ended every session of 1 user(s)." in page.locator("ul.messagelist").inner_text()
        shots.take(page, "users-revoked")
        assert httpx.get(f"{base}/api/v1/auth/me", headers=pair.auth).status_code == 401

        page.goto(f"{base}/admin/accounts/user/")
        page.locator("#changelist-filter").get_by_role("link", name="weak").click()
        page.wait_for_url("**/admin/accounts/user/?hash_status=weak")
        emails = page.locator("#result_list tbody th.field-email").all_inner_texts()
        assert emails == ["legacy@example.com"]
        assert page.locator("#result_list tbody td.field-hash_status").inner_text() == "weak: pbkdf2_sha256 iterations=1000"
        shots.take(page, "users-hash-status-weak")
        page.locator("#result_list tbody input.action-select").check()
        page.locator("select[name=action]").select_option("wrap_weak_hashes")
        page.get_by_role("button", name="Go").click()
        expect(page.locator("ul.messagelist")).to_contain_text("1 weak hash(es) to wrap")
        page.locator("ul.messagelist a").click()
        page.wait_for_url("**/admin/accounts/job/*/change/")
        assert "wrap" in page.locator("#content").inner_text()
        page.goto(f"{base}/admin/accounts/job/")
        assert page.locator("#result_list tbody tr").count() == 1
        shots.take(page, "jobs")

        member = User.objects.get(email="member@example.com")
        page.goto(f"{base}/admin/accounts/user/{member.pk}/change/")
        body = page.locator("#content").inner_text()
        assert "revoked (admin_revoke)" in body and "success" in body
        shots.take(page, "user-page")

        page.goto(f"{base}/admin/accounts/throttlecounter/")
        locked = page.locator("#locked-now")
        assert "legacy@example.com" in locked.inner_text()
        shots.take(page, "lockouts")
        locked.get_by_role("button", name="Unlock legacy@example.com").click()
        expect(page.locator("ul.messagelist")).to_be_visible()
        assert "Nobody is locked out right now." in page.locator("#locked-now").inner_text()
        shots.take(page, "lockouts-unlocked")

        page.goto(f"{base}/admin/accounts/loginattempt/?outcome__exact=bad_credentials")
        assert page.locator("#result_list tbody tr").count() == 2
        shots.take(page, "login-attempts")
        page.goto(f"{base}/admin/tokens/session/")
        assert "revoked (admin_revoke)" in page.locator("#result_list tbody td.field-state").inner_text()
        shots.take(page, "sessions")
        page.goto(f"{base}/admin/tokens/signingkey/")
        assert "active" in page.locator("#result_list").inner_text()
        shots.take(page, "signing-keys")
        context.close()
