"""The end-user pages (pages/views.py): sign up, log in, the account page, log out (this device,
everywhere), change password. A browser login is a tokens Session: its revocation anywhere ends
the page login, and what the page ends, the API sees at once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import LoginAttempt, User
from tests.support.admin import authenticates
from tests.support.pages import PASSWORD, UA, browser, get, log_in, logged_attempts, post, text
from tests.support.tokens import issue_pair
from tokens.models import RefreshToken, Session

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a brand new long passphrase 7"


@pytest.fixture
def member(db: None) -> User:
    return User.objects.create_user("member@example.com", PASSWORD)


def test_signup_creates_the_account_and_sends_the_person_to_log_in() -> None:
    client = browser()
    page = get(client, "/account/signup/")
    assert page.status_code == 200
    html = page.content.decode()
    for field in ("email", "password"):
        assert f'<label for="{field}">' in html and f'name="{field}"' in html
    assert 'name="csrfmiddlewaretoken"' in html and '<form method="post"' in html
    response = post(client, "/account/signup/", {"email": " New@Example.COM ", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/account/login/"
    assert User.objects.filter(email="new@example.com").exists()
    assert "Your account is ready" in text(get(client, "/account/login/"))
    assert "Your account is ready" not in text(get(client, "/account/login/"))  # shown once


def test_signup_shows_the_api_validation_messages_on_their_fields(member: User) -> None:
    client = browser()
    response = post(client, "/account/signup/", {"email": "someone@example.com", "password": "short"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "This password is too short. It must contain at least 12 characters." in html
    # The message is tied to its field, which is marked invalid.
    assert re.search(r'id="password"[^>]*aria-describedby="password-error[^"]*"[^>]*aria-invalid="true"', html, re.S)
    assert 'id="password-error"' in html
    assert 'value="someone@example.com"' in html  # the email is kept, never the password
    taken = post(client, "/account/signup/", {"email": "MEMBER@example.com", "password": PASSWORD})
    assert taken.status_code == 400 and "An account with this email already exists." in text(taken)
    bad = post(client, "/account/signup/", {"email": "not an email", "password": PASSWORD})
    assert bad.status_code == 400 and 'id="email-error"' in bad.content.decode()
    assert User.objects.count() == 1


def test_login_starts_a_tokens_session_and_the_account_page_lists_it(member: User) -> None:
    client = browser()
    log_in(client, " MEMBER@example.com ")
    session = Session.objects.get(user=member)
    assert session.user_agent == UA and session.ip == "127.0.0.1" and session.revoked_at is None
    assert not RefreshToken.objects.filter(session=session).exists()  # a browser holds no tokens
    assert client.session["authsite_session_id"] == str(session.pk)  # the cookie carries the id only
    other = issue_pair(member, ip="10.1.2.3", user_agent="curl/8.0")
    page = get(client, "/account/")
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    body = text(page)
    assert "member@example.com" in body and "This device" in body and "curl/8.0" in body and "10.1.2.3" in body
    assert body.count("This device") == 1
    assert authenticates(other.access_token)
    member.refresh_from_db()
    assert member.last_login is not None
    assert [(a.outcome, a.source, a.user_id) for a in logged_attempts()] == [("success", "page", member.pk)]


def test_login_rotates_the_session_cookie(member: User) -> None:
    client = browser()
    get(client, "/account/login/")
    post(client, "/account/signup/", {"email": "x", "password": "y"})  # puts something in the session
    before = client.cookies.get("sessionid")
    log_in(client, member.email)
    assert client.cookies["sessionid"].value != (before.value if before else None)


def test_wrong_password_and_unknown_email_get_the_same_single_message(member: User) -> None:
    client = browser()
    wrong = post(client, "/account/login/", {"email": member.email, "password": "not the password!!"})
    unknown = post(client, "/account/login/", {"email": "nobody@example.com", "password": "not the password!!"})
    for response in (wrong, unknown):
        assert response.status_code == 400
        assert text(response).count("The email or password is incorrect.") == 1
        assert 'role="alert"' in response.content.decode()

    def strip(html: bytes) -> str:
        html_text = html.decode().replace("nobody@example.com", "member@example.com")
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html_text)

    assert strip(wrong.content) == strip(unknown.content)  # no enumeration through the page
    assert not Session.objects.exists()
    assert [(a.outcome, a.user_id) for a in logged_attempts()] == [("bad_credentials", member.pk),
                                                                   ("bad_credentials", None)]


@override_settings(THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_ACCOUNT=(0, 0), THROTTLE_IP=(0, 0))
def test_a_throttled_login_says_to_try_later_and_when(member: User) -> None:
    client = browser()
    for _ in range(2):
        assert post(client, "/account/login/", {"email": member.email, "password": "wrong wrong wrong"}).status_code == 400
    refused = post(client, "/account/login/", {"email": member.email, "password": PASSWORD})
    assert refused.status_code == 400
    message = text(refused)
    match = re.search(r"Too many attempts\. Try again in (\d+) minutes \(after (\d\d):(\d\d) UTC\)\.", message)
    assert match, message
    assert 14 <= int(match.group(1)) <= 15
    until = timezone.now() + timedelta(minutes=int(match.group(1)))
    assert (int(match.group(2)), int(match.group(3))) in {(until.hour, until.minute),
                                                          ((until - timedelta(minutes=1)).hour,
                                                           (until - timedelta(minutes=1)).minute)}
    assert "The email or password is incorrect." not in message
    assert not Session.objects.exists()
    assert [a.outcome for a in logged_attempts()] == ["bad_credentials", "bad_credentials", "throttled"]


def test_the_account_page_needs_a_live_session(member: User) -> None:
    client = browser()
    assert get(client, "/account/")["Location"] == "/account/login/"
    log_in(client, member.email)
    session = Session.objects.get(user=member)
    assert get(client, "/account/").status_code == 200
    session.expires_at = timezone.now() - timedelta(seconds=1)
    session.save(update_fields=["expires_at"])
    assert get(client, "/account/")["Location"] == "/account/login/"
    assert "authsite_session_id" not in client.session


def test_an_api_logout_all_ends_the_browser_session_too(member: User, api: Client) -> None:
    client = browser()
    log_in(client, member.email)
    pair = issue_pair(member)
    response = api.post("/api/v1/auth/logout-all", HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
    assert response.status_code == 204
    assert get(client, "/account/")["Location"] == "/account/login/"


def test_deactivation_ends_the_browser_session(member: User) -> None:
    client = browser()
    log_in(client, member.email)
    member.is_active = False
    member.save()
    assert get(client, "/account/")["Location"] == "/account/login/"


def test_logout_ends_only_this_session_and_must_be_a_post(member: User) -> None:
    client = browser()
    log_in(client, member.email)
    pair = issue_pair(member)
    assert get(client, "/account/logout/").status_code == 405
    response = post(client, "/account/logout/")
    assert response.status_code == 302 and response["Location"] == "/account/login/"
    browser_session = Session.objects.exclude(refresh_tokens__isnull=False).get(user=member)
    assert browser_session.revoked_reason == "logout"
    assert authenticates(pair.access_token)  # the API session lives on
    assert "You are logged out." in text(get(client, "/account/login/"))
    assert get(client, "/account/")["Location"] == "/account/login/"


def test_log_out_of_another_device_revokes_that_session_in_the_api(member: User) -> None:
    client = browser()
    log_in(client, member.email)
    pair = issue_pair(member, user_agent="phone app")
    api_session = Session.objects.get(user=member, user_agent="phone app")
    response = post(client, f"/account/sessions/{api_session.pk}/end/")
    assert response["Location"] == "/account/"
    assert not authenticates(pair.access_token)
    page = text(get(client, "/account/"))
    assert "That device is logged out." in page and "phone app" not in page


def test_log_out_of_this_device_from_the_list(member: User) -> None:
    client = browser()
    log_in(client, member.email)
    current = Session.objects.get(user=member)
    response = post(client, f"/account/sessions/{current.pk}/end/")
    assert response["Location"] == "/account/login/"
    current.refresh_from_db()
    assert current.revoked_at is not None


def test_a_session_of_someone_else_cannot_be_ended(member: User) -> None:
    stranger = User.objects.create_user("stranger@example.com", PASSWORD)
    pair = issue_pair(stranger)
    client = browser()
    log_in(client, member.email)
    theirs = Session.objects.get(user=stranger)
    for target in (str(theirs.pk), "not-a-uuid"):
        response = post(client, f"/account/sessions/{target}/end/")
        assert response["Location"] == "/account/"
    assert authenticates(pair.access_token)
    assert "That session had already ended." in text(get(client, "/account/"))


def test_log_out_everywhere_ends_every_session_api_included(member: User, api: Client) -> None:
    client = browser()
    log_in(client, member.email)
    pair = issue_pair(member)
    response = post(client, "/account/logout-everywhere/")
    assert response["Location"] == "/account/login/"
    assert not Session.objects.filter(user=member, revoked_at__isnull=True).exists()
    assert api.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {pair.access_token}").status_code == 401
    assert "You are logged out everywhere" in text(get(client, "/account/login/"))


def test_change_password_checks_the_current_one_then_ends_every_session(member: User, api: Client) -> None:
    client = browser()
    log_in(client, member.email)
    pair = issue_pair(member)
    wrong = post(client, "/account/password/", {"current_password": "not it at all", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 400
    assert 'id="current_password-error"' in wrong.content.decode() and "Incorrect password." in text(wrong)
    weak = post(client, "/account/password/", {"current_password": PASSWORD, "new_password": "12345678901234"})
    assert weak.status_code == 400 and "This password is entirely numeric." in text(weak)
    assert authenticates(pair.access_token)
    done = post(client, "/account/password/", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert done["Location"] == "/account/login/"
    assert not authenticates(pair.access_token)
    assert get(client, "/account/")["Location"] == "/account/login/"
    assert "Your password is changed" in text(get(client, "/account/login/"))
    log_in(client, member.email, NEW_PASSWORD)
    assert api.post("/api/v1/auth/login", {"email": member.email, "password": PASSWORD},
                    content_type="application/json").status_code == 401


def test_a_post_without_the_csrf_token_is_refused(member: User) -> None:
    client = browser(enforce_csrf=True)
    get(client, "/account/login/")  # the CSRF cookie, as a browser would hold it
    refused = post(client, "/account/login/", {"email": member.email, "password": PASSWORD},
                   HTTP_REFERER="https://testserver/account/login/")
    assert refused.status_code == 403
    assert not Session.objects.exists()
    page = get(client, "/account/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    accepted = post(client, "/account/login/", {"email": member.email, "password": PASSWORD,
                                                "csrfmiddlewaretoken": token},
                    HTTP_REFERER="https://testserver/account/login/")
    assert accepted.status_code == 302
    logout = post(client, "/account/logout/", HTTP_REFERER="https://testserver/account/")
    assert logout.status_code == 403  # a cross-site form cannot log anyone out either
    assert Session.objects.get(user=member).revoked_at is None


def test_cookies_are_http_only_secure_over_https_and_same_site(member: User) -> None:
    client = browser()
    response = log_in(client, member.email)
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax"


def test_hostile_form_input_gets_a_clear_error(member: User) -> None:
    client = browser()
    huge = post(client, "/account/login/", {"email": member.email, "password": "x" * 100_000})
    assert huge.status_code == 400 and "Must be at most 1024 characters." in text(huge)
    missing = post(client, "/account/signup/", {})
    assert missing.status_code == 400
    assert 'id="email-error"' in missing.content.decode()
    odd = client.generic("POST", "/account/login/", b"email=%FF%00%ED%A0%80&password=p&password=q",
                         content_type="application/x-www-form-urlencoded", secure=True)
    assert odd.status_code == 400
    assert post(client, "/account/password/", {}).status_code == 302  # not logged in: to the login page
    assert client.put("/account/login/", secure=True).status_code == 405
    assert not Session.objects.exists() and User.objects.count() == 1


@override_settings(THROTTLE_IP=(1, 900))
def test_a_throttled_signup_says_when_to_try_again() -> None:
    client = browser()
    assert post(client, "/account/signup/", {"email": "one@example.com", "password": PASSWORD}).status_code == 302
    refused = post(client, "/account/signup/", {"email": "two@example.com", "password": PASSWORD})
    assert refused.status_code == 400
    assert re.search(r"Too many attempts\. Try again in 1[45] minutes \(after \d\d:\d\d UTC\)\.", text(refused))
    assert not User.objects.filter(email="two@example.com").exists()


def test_the_focus_starts_on_the_first_field_that_needs_the_person(member: User) -> None:
    client = browser()

    def focused(response: object) -> list[str]:
        return re.findall(r'<input id="([a-z_]+)"[^>]*\sautofocus>', response.content.decode())  # type: ignore[attr-defined]

    assert focused(get(client, "/account/login/")) == ["email"]
    wrong = post(client, "/account/login/", {"email": member.email, "password": "not the password!!"})
    assert focused(wrong) == ["password"]
    assert focused(get(client, "/account/signup/")) == ["email"]
    weak = post(client, "/account/signup/", {"email": "new@example.com", "password": "short"})
    assert focused(weak) == ["password"]
    log_in(client, member.email)
    bad = post(client, "/account/password/", {"current_password": PASSWORD, "new_password": "short"})
    assert focused(bad) == ["new_password"]
    assert focused(get(client, "/account/")) == []  # the account page does not steal the focus


@override_settings(THROTTLE_ACCOUNT_IP=(5, 900), THROTTLE_ACCOUNT=(2, 900), THROTTLE_IP=(0, 0))
def test_a_browser_that_logged_in_before_is_not_locked_out_by_strangers(member: User, api: Client) -> None:
    client = browser()
    log_in(client, member.email)
    assert client.cookies["authsite_client"]["httponly"]  # the known-client cookie
    post(client, "/account/logout/")
    for ip in ("198.51.100.1", "198.51.100.2"):  # a stranger fills the account-wide counter
        api.post("/api/v1/auth/login", {"email": member.email, "password": "a stranger's guess"},
                 content_type="application/json", REMOTE_ADDR=ip)
    stranger = browser()
    refused = post(stranger, "/account/login/", {"email": member.email, "password": PASSWORD})
    assert refused.status_code == 400 and "Too many attempts." in text(refused)
    log_in(client, member.email)  # the owner's browser still gets in


def test_the_login_page_links_to_forgot_password_and_the_account_page_shows_verification(member: User) -> None:
    client = browser()
    login_page = get(client, "/account/login/").content.decode()
    assert 'href="/account/password-reset"' in login_page and "Forgot your password?" in login_page
    assert get(client, "/account/password-reset").status_code == 200
    log_in(client, "member@example.com")
    assert "not verified yet" in text(get(client, "/account/"))
    User.objects.filter(pk=member.pk).update(email_verified=True)
    page = text(get(client, "/account/"))
    assert "not verified yet" not in page and "verified" in page
