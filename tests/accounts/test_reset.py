"""Password reset through the API: mail queued by id, single-use links, sessions ended, throttles.

Mail goes to Django's locmem outbox; queued tasks are taken off the real broker and run here.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core import mail as django_mail
from django.db import connection
from django.test import Client, override_settings

from accounts import linktokens, passwords, reset
from accounts.models import User
from accounts.signals import credentials_changed
from tests.support import broker
from tests.support.client_api import (
    API,
    OTHER_PASSWORD,
    PASSWORD,
    assert_error,
    assert_invalid_token,
    assert_no_content,
    assert_validation_error,
    get,
    login,
    post_json,
)

RESET = f"{API}/password-reset"
CONFIRM = f"{API}/password-reset/confirm"
NEW_PASSWORD = "a brand new passphrase 2031"


def ask(api: Client, email: str, ip: str = "10.0.0.1") -> Any:
    return post_json(api, RESET, {"email": email}, REMOTE_ADDR=ip)


def confirm(api: Client, token: str, new_password: str = NEW_PASSWORD) -> Any:
    return post_json(api, CONFIRM, {"token": token, "new_password": new_password})


def mailed_token(message: Any) -> str:
    found = re.search(r"/account/password-reset/confirm\?token=([0-9a-z-]+)", message.body)
    assert found, message.body
    return found.group(1)


def reset_token_for(api: Client, email: str) -> str:
    """Ask for a reset, run the queued task, return the token of the mail it sent."""
    before = len(django_mail.outbox)
    assert ask(api, email).status_code == 202
    broker.run_all()
    assert len(django_mail.outbox) == before + 1
    return mailed_token(django_mail.outbox[-1])


@pytest.mark.django_db
def test_asking_answers_202_and_queues_the_user_id_only(api: Client, user: User) -> None:
    response = ask(api, "  ALICE@example.com ")
    assert response.status_code == 202
    assert response.json() == {"status": "accepted"}
    queued = broker.take_all()
    assert [(q.task, q.args, q.kwargs) for q in queued] == [("accounts.tasks.send_password_reset", [user.pk], {})]
    assert b"alice" not in queued[0].raw and b"argon2" not in queued[0].raw
    assert django_mail.outbox == []  # the request does not wait for the mail


@pytest.mark.django_db
def test_the_mail_has_a_text_and_an_html_part_with_the_link(api: Client, user: User) -> None:
    with override_settings(PUBLIC_BASE_URL="https://auth.example.com/sso", DEFAULT_FROM_EMAIL="Auth <a@example.com>"):
        token = reset_token_for(api, user.email)
    message = django_mail.outbox[0]
    assert message.to == ["alice@example.com"] and message.from_email == "Auth <a@example.com>"
    link = f"https://auth.example.com/sso/account/password-reset/confirm?token={token}"
    assert link in message.body
    (html, mimetype), = message.alternatives
    assert mimetype == "text/html" and f'href="{link}"' in html


@pytest.mark.django_db
def test_reset_sets_the_password_and_ends_every_session(api: Client, user: User) -> None:
    old = login(api, user.email)
    token = reset_token_for(api, user.email)
    assert_no_content(confirm(api, token))
    assert_invalid_token(get(api, f"{API}/me", old["access_token"]))
    assert_invalid_token(post_json(api, f"{API}/refresh", {"refresh_token": old["refresh_token"]}))
    assert_error(post_json(api, f"{API}/login", {"email": user.email, "password": PASSWORD}), 401,
                 "invalid_credentials")
    new = login(api, user.email, NEW_PASSWORD)
    me = get(api, f"{API}/me", new["access_token"]).json()
    assert me["email_verified"] is True  # the link proved the address
    assert passwords.hash_status(User.objects.get(pk=user.pk).password) == "current"


@pytest.mark.django_db(transaction=True)
def test_sessions_end_in_the_transaction_that_stores_the_hash(api: Client, user: User) -> None:
    seen: list[tuple[str, bool, str]] = []

    def spy(sender: object, user_id: int, reason: str, **kwargs: object) -> None:
        seen.append((reason, connection.in_atomic_block, User.objects.get(pk=user_id).password))

    token = reset_token_for(api, user.email)
    credentials_changed.connect(spy)
    try:
        assert_no_content(confirm(api, token))
    finally:
        credentials_changed.disconnect(spy)
    (reason, atomic, stored), = seen  # announced once, as a reset
    assert reason == "password_reset" and atomic
    assert stored == User.objects.get(pk=user.pk).password != user.password


@pytest.mark.django_db
def test_a_used_link_is_invalid_token(api: Client, user: User) -> None:
    token = reset_token_for(api, user.email)
    assert_no_content(confirm(api, token))
    assert_error(confirm(api, token, OTHER_PASSWORD), 400, "invalid_token")
    login(api, user.email, NEW_PASSWORD)


@pytest.mark.django_db
def test_using_one_link_kills_the_others(api: Client, user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [datetime(2030, 1, 1, 12, 0, 0)]
    monkeypatch.setattr(linktokens.LinkTokenGenerator, "clock", staticmethod(lambda: now[0]))
    first = reset_token_for(api, user.email)
    now[0] += timedelta(minutes=5)
    second = reset_token_for(api, user.email)
    assert first != second
    assert_no_content(confirm(api, second))
    assert_error(confirm(api, first, OTHER_PASSWORD), 400, "invalid_token")


@pytest.mark.django_db
def test_an_expired_link_is_invalid_token(api: Client, user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [datetime(2030, 1, 1, 12, 0, 0)]
    monkeypatch.setattr(linktokens.LinkTokenGenerator, "clock", staticmethod(lambda: now[0]))
    with override_settings(PASSWORD_RESET_TTL=600):
        token = reset_token_for(api, user.email)
        now[0] += timedelta(seconds=601)
        assert_error(confirm(api, token), 400, "invalid_token")
        now[0] -= timedelta(seconds=2)
        assert_no_content(confirm(api, token))


@pytest.mark.django_db
def test_tampered_and_foreign_tokens_are_invalid_token(api: Client, user: User) -> None:
    bob = User.objects.create_user("bob@example.com", PASSWORD)
    token = reset_token_for(api, user.email)
    uid, stamp, mac = token.split("-")
    bob_uid = linktokens.password_reset.make_link_token(bob).split("-")[0]
    for bad in (f"{uid}-{stamp}-{mac[::-1]}", f"{bob_uid}-{stamp}-{mac}", token[:-1], token + "0",
                token.upper(), "x" * 5000, "1-1-1", "\u00e9" * 40, " " + token):
        assert_error(confirm(api, bad), 400, "invalid_token")
    # Bob's own link resets Bob, never Alice.
    bobs = reset_token_for(api, bob.email)
    assert_no_content(confirm(api, bobs))
    login(api, user.email, PASSWORD)
    login(api, bob.email, NEW_PASSWORD)


@pytest.mark.django_db
def test_a_weak_new_password_is_a_validation_error_and_keeps_the_link(api: Client, user: User) -> None:
    token = reset_token_for(api, user.email)
    for weak in ("short", "1234567890123", "alice@example.com", "x" * 1025):
        assert_validation_error(confirm(api, token, weak), "new_password")
    assert_validation_error(post_json(api, CONFIRM, {"token": token}), "new_password")
    assert_validation_error(post_json(api, CONFIRM, {"token": 5, "new_password": NEW_PASSWORD}), "token")
    assert_no_content(confirm(api, token))


@pytest.mark.django_db
def test_only_accounts_that_may_reset_get_a_mail(api: Client, user: User) -> None:
    User.objects.create_user("inactive@example.com", PASSWORD, is_active=False)
    User.objects.create_user("nopassword@example.com", None)
    for email in ("inactive@example.com", "nopassword@example.com", "nobody@example.com"):
        assert ask(api, email).status_code == 202
    assert len(broker.run_all()) == 3
    assert django_mail.outbox == []


@pytest.mark.django_db
def test_a_reset_forced_by_staff_can_be_completed(api: Client, user: User) -> None:
    old = login(api, user.email)
    assert reset.force_reset(user.pk)
    assert_invalid_token(get(api, f"{API}/me", old["access_token"]))
    assert_error(post_json(api, f"{API}/login", {"email": user.email, "password": PASSWORD}), 401,
                 "invalid_credentials")
    broker.run_all()
    assert len(django_mail.outbox) == 1  # staff forcing a reset mails the link
    assert_no_content(confirm(api, mailed_token(django_mail.outbox[-1])))
    login(api, user.email, NEW_PASSWORD)
    assert reset.force_reset(user.pk)  # forced again: "forgot password" works for it too
    broker.run_all()
    assert_no_content(confirm(api, reset_token_for(api, user.email), "yet another fine long passphrase"))


@pytest.mark.django_db
def test_malformed_requests_are_validation_errors(api: Client) -> None:
    assert_validation_error(ask(api, "not an address"), "email")
    assert_validation_error(ask(api, "a" * 300 + "@example.com"), "email")
    assert_validation_error(post_json(api, RESET, {"email": ["x@example.com"]}), "email")
    assert_validation_error(post_json(api, RESET, b"[1]"))
    assert_error(api.get(RESET), 405, "method_not_allowed")
    assert broker.take_all() == []


@pytest.mark.django_db
def test_reset_unlocks_logins_locked_by_failed_guesses(api: Client, user: User) -> None:
    with override_settings(THROTTLE_ACCOUNT=(3, 900), THROTTLE_ACCOUNT_IP=(0, 0), THROTTLE_IP=(0, 0)):
        for _ in range(3):
            post_json(api, f"{API}/login", {"email": user.email, "password": "wrong guess number x"})
        assert_error(post_json(api, f"{API}/login", {"email": user.email, "password": PASSWORD}), 429,
                     "too_many_attempts")
        token = reset_token_for(api, user.email)
        assert_no_content(confirm(api, token))
        login(api, user.email, NEW_PASSWORD)
