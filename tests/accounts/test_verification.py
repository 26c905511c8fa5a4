"""Email verification: signup mails a link, the link verifies once, /me shows it, resends are
throttled, and REQUIRE_VERIFIED_EMAIL refuses unverified logins only after the password."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core import mail as django_mail
from django.test import Client, override_settings

from accounts import linktokens
from accounts.models import User
from tests.support import broker
from tests.support.argon2_spy import Argon2Spy, argon2_spy  # noqa: F401
from tests.support.client_api import (
    API,
    PASSWORD,
    assert_error,
    assert_invalid_token,
    assert_no_content,
    assert_validation_error,
    get,
    login,
    post_json,
)

VERIFY = f"{API}/verify-email"
RESEND = f"{API}/verify-email/resend"


def signup(api: Client, email: str) -> dict[str, Any]:
    response = post_json(api, f"{API}/signup", {"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.content
    return response.json()


def mailed_token(message: Any) -> str:
    found = re.search(r"/account/verify-email\?token=([0-9a-z-]+)", message.body)
    assert found, message.body
    return found.group(1)


def verify(api: Client, token: str) -> Any:
    return post_json(api, VERIFY, {"token": token})


@pytest.mark.django_db
def test_signup_mails_a_link_that_verifies_once(api: Client) -> None:
    new = signup(api, "Carol@Example.com")
    queued = broker.run_all()
    assert [(q.task, q.args) for q in queued] == [("accounts.tasks.send_verification", [new["id"]])]
    (message,) = django_mail.outbox
    assert message.to == ["carol@example.com"] and message.alternatives[0][1] == "text/html"
    token = mailed_token(message)
    pair = login(api, "carol@example.com")
    assert get(api, f"{API}/me", pair["access_token"]).json()["email_verified"] is False  # now cached
    assert_no_content(verify(api, token))
    assert get(api, f"{API}/me", pair["access_token"]).json()["email_verified"] is True
    assert_error(verify(api, token), 400, "invalid_token")


@pytest.mark.django_db
def test_expired_tampered_and_readdressed_tokens_are_invalid(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [datetime(2030, 1, 1, 12, 0, 0)]
    monkeypatch.setattr(linktokens.LinkTokenGenerator, "clock", staticmethod(lambda: now[0]))
    user = User.objects.create_user("dave@example.com", PASSWORD)
    token = linktokens.email_verification.make_link_token(user)
    uid, stamp, mac = token.split("-")
    for bad in (f"{uid}-{stamp}-{mac[::-1]}", token[:-2], "", "0-0-" + "0" * 32, "z" * 101,
                linktokens.password_reset.make_link_token(user)):
        assert_error(verify(api, bad), 400, "invalid_token")
    with override_settings(EMAIL_VERIFICATION_TTL=3600):
        now[0] += timedelta(seconds=3601)
        assert_error(verify(api, token), 400, "invalid_token")
        now[0] -= timedelta(seconds=2)
        User.objects.filter(pk=user.pk).update(email="dave2@example.com")
        assert_error(verify(api, token), 400, "invalid_token")
        User.objects.filter(pk=user.pk).update(email="dave@example.com")
        assert_no_content(verify(api, token))
    assert_validation_error(post_json(api, VERIFY, {}), "token")


@pytest.mark.django_db
def test_resend_needs_a_bearer_token_and_queues_one_mail(api: Client, user: User, tokens: dict[str, Any]) -> None:
    assert_invalid_token(post_json(api, RESEND, None))
    response = post_json(api, RESEND, None, token=tokens["access_token"])
    assert response.status_code == 202 and response.json() == {"status": "accepted"}
    assert [(q.task, q.args) for q in broker.run_all()] == [("accounts.tasks.send_verification", [user.pk])]
    assert_no_content(verify(api, mailed_token(django_mail.outbox[-1])))
    # Verified: still 202, nothing more to send.
    assert post_json(api, RESEND, None, token=tokens["access_token"]).status_code == 202
    assert broker.take_all() == []


@pytest.mark.django_db
def test_resend_is_throttled(api: Client, user: User, tokens: dict[str, Any], store: str) -> None:
    with override_settings(THROTTLE_MAIL_EMAIL=(2, 900), THROTTLE_MAIL_IP=(100, 900)):
        for _ in range(2):
            assert post_json(api, RESEND, None, token=tokens["access_token"]).status_code == 202
        refused = post_json(api, RESEND, None, token=tokens["access_token"])
    assert_error(refused, 429, "too_many_attempts")
    assert int(refused["Retry-After"]) >= 1
    assert len(broker.take_all()) == 2


@pytest.mark.django_db
def test_unverified_logins_are_allowed_by_default(api: Client, user: User) -> None:
    assert not User.objects.get(pk=user.pk).email_verified
    login(api, user.email)


@pytest.mark.django_db
@override_settings(REQUIRE_VERIFIED_EMAIL=True)
def test_required_verification_answers_only_after_the_password(
        api: Client, user: User, argon2_spy: Argon2Spy) -> None:
    def attempt(email: str, password: str) -> Any:
        return post_json(api, f"{API}/login", {"email": email, "password": password}, REMOTE_ADDR="10.3.0.1")

    unknown = attempt("nobody@example.com", PASSWORD)
    argon2_spy.reset()
    wrong = attempt(user.email, "not the right passphrase")
    assert_error(wrong, 401, "invalid_credentials")
    assert wrong.content == unknown.content and argon2_spy.current == 1
    argon2_spy.reset()
    right = attempt(user.email, PASSWORD)
    assert_error(right, 403, "email_unverified")
    assert argon2_spy.current == 1  # decided after the verification, no extra work
    User.objects.filter(pk=user.pk).update(email_verified=True)
    assert attempt(user.email, PASSWORD).status_code == 200


@pytest.mark.django_db
def test_a_changed_address_is_no_longer_verified(user: User) -> None:
    User.objects.filter(pk=user.pk).update(email_verified=True)
    user.refresh_from_db()
    user.email = "Alice.New@Example.com"
    user.save()
    user.refresh_from_db()
    assert user.email == "alice.new@example.com" and not user.email_verified
    # Saying so in the same save keeps it verified; a save that keeps the address changes nothing.
    user.email, user.email_verified = "alice.third@example.com", True
    user.save()
    user.is_staff = True
    user.save()
    user.refresh_from_db()
    assert user.email_verified
