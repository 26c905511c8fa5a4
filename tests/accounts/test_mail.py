"""Mail tasks: at most one mail per request, retries with a bound on SMTP failures.

The SMTP cases talk to a real SMTP server (an aiosmtpd sink on a loopback port); the others use
Django's locmem outbox. Tasks run here through Celery's apply(), retries included.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core import mail as django_mail
from django.test import override_settings
from django.utils import timezone

from accounts import mail, tasks
from accounts.models import MailDelivery, User
from tests.support.client_api import PASSWORD
from tests.support.servers import free_port
from tests.support.smtp_sink import Sink, html_part, link_token, smtp_sink, text_part  # noqa: F401


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice@example.com", PASSWORD)


@pytest.fixture
def smtp(smtp_sink: Sink) -> Iterator[Sink]:
    """Django's SMTP backend pointed at the sink, retries without waiting."""
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
                           EMAIL_PORT=smtp_sink.port, EMAIL_TIMEOUT=10, MAIL_RETRY_BACKOFF=0):
        yield smtp_sink


def send(task: object, user_id: int | None, task_id: str = "request-1") -> str:
    return task.apply(args=[user_id], task_id=task_id).get()  # type: ignore[attr-defined]


def state(task_id: str = "request-1") -> tuple[str, int]:
    row = MailDelivery.objects.get(pk=task_id)
    return row.state, row.attempts


def test_a_mail_goes_through_smtp_with_text_and_html(alice: User, smtp: Sink) -> None:
    assert send(tasks.send_password_reset, alice.pk) == "sent"
    (message,) = smtp.messages
    assert message["To"] == "alice@example.com" and message["Subject"] == "Reset your password"
    token = link_token(message, "/account/password-reset/confirm")
    assert f"/account/password-reset/confirm?token={token}" in html_part(message)
    assert "alice@example.com" in text_part(message)
    assert state() == ("sent", 1)


def test_a_redelivered_message_after_the_send_sends_nothing(alice: User) -> None:
    assert send(tasks.send_verification, alice.pk) == "sent"
    assert send(tasks.send_verification, alice.pk) == "sent"  # the same message again
    assert len(django_mail.outbox) == 1
    assert state() == ("sent", 1)
    # Another request is another mail.
    assert send(tasks.send_verification, alice.pk, task_id="request-2") == "sent"
    assert len(django_mail.outbox) == 2


def test_a_worker_lost_during_the_send_is_never_followed_by_a_second_mail(alice: User) -> None:
    # What a worker killed after claiming the delivery leaves behind.
    MailDelivery.objects.create(pk="request-1", kind=mail.PASSWORD_RESET, user_id=alice.pk,
                                state=MailDelivery.SENDING, attempts=1)
    assert send(tasks.send_password_reset, alice.pk) == "unknown"
    assert send(tasks.send_password_reset, alice.pk) == "unknown"
    assert django_mail.outbox == []
    assert state() == ("unknown", 1)


def test_temporary_smtp_failures_are_retried_under_the_same_request(alice: User, smtp: Sink) -> None:
    smtp.refusals = ["451 4.3.0 try again later", "421 4.7.0 busy"]
    assert send(tasks.send_password_reset, alice.pk) == "sent"
    assert smtp.attempts == 3 and len(smtp.messages) == 1
    assert state() == ("sent", 3)


def test_retries_stop_at_the_bound(alice: User, smtp: Sink) -> None:
    smtp.refusals = ["451 4.3.0 try again later"] * 10
    with override_settings(MAIL_RETRY_LIMIT=2):
        assert send(tasks.send_password_reset, alice.pk) == "failed"
    assert smtp.attempts == 3 and smtp.messages == []
    assert state() == ("failed", 3)
    # A redelivery of the finished request does nothing either.
    assert send(tasks.send_password_reset, alice.pk) == "failed"
    assert smtp.attempts == 3


def test_a_permanent_refusal_is_not_retried(alice: User, smtp: Sink) -> None:
    smtp.refusals = ["550 5.1.1 no such mailbox"]
    assert send(tasks.send_password_reset, alice.pk) == "failed"
    assert smtp.attempts == 1 and state() == ("failed", 1)


def test_an_unreachable_server_is_retried_then_given_up(alice: User) -> None:
    closed = free_port()
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
                           EMAIL_PORT=closed, MAIL_RETRY_BACKOFF=0, MAIL_RETRY_LIMIT=1):
        assert send(tasks.send_verification, alice.pk) == "failed"
    assert state() == ("failed", 2)


def test_backoff_grows_and_is_capped() -> None:
    with override_settings(MAIL_RETRY_BACKOFF=10, MAIL_RETRY_BACKOFF_MAX=100):
        waits = {n: [mail.backoff(n) for _ in range(50)] for n in range(6)}
    for n, seen in waits.items():
        assert all(0 <= wait <= min(100, 10 * 2 ** n) for wait in seen), (n, seen)
    assert max(waits[5]) > 10  # with jitter, 50 draws up to 100 do not all stay under the first step


def test_nothing_is_sent_to_accounts_that_do_not_qualify(alice: User) -> None:
    assert send(tasks.send_password_reset, None) == "skipped"
    inactive = User.objects.create_user("off@example.com", PASSWORD, is_active=False)
    verified = User.objects.create_user("ok@example.com", PASSWORD, email_verified=True)
    assert send(tasks.send_password_reset, inactive.pk) == "skipped"
    assert send(tasks.send_verification, verified.pk) == "skipped"
    assert send(tasks.send_verification, 10**12) == "skipped"
    assert django_mail.outbox == []
    assert not MailDelivery.objects.exists()


def test_smtp_errors_are_classified() -> None:
    assert mail._permanent(smtplib.SMTPDataError(554, b"rejected"))
    assert not mail._permanent(smtplib.SMTPDataError(451, b"later"))
    assert mail._permanent(smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no")}))
    assert not mail._permanent(smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"later")}))
    assert not mail._permanent(smtplib.SMTPServerDisconnected("gone"))


def test_old_delivery_records_are_purged(alice: User) -> None:
    old = timezone.now() - timedelta(days=8)
    MailDelivery.objects.create(pk="old", kind=mail.VERIFY_EMAIL, user_id=alice.pk, state="sent", created_at=old)
    MailDelivery.objects.create(pk="new", kind=mail.VERIFY_EMAIL, user_id=alice.pk, state="sent")
    assert tasks.purge_mail_deliveries() == 1
    assert list(MailDelivery.objects.values_list("pk", flat=True)) == ["new"]
