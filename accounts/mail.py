"""Account mails (password reset, email verification): queueing, building and sending at most once.

Requests only queue a Celery task with a user id (accounts.tasks); the worker builds the link
token itself, so no token, password or hash travels through the broker. Sending goes through
Django's email framework (settings.EMAIL_*): SMTP, or the console when EMAIL_HOST is unset.

At most once per request: a task message may be delivered again after a worker died before
acknowledging it. Each task id has a MailDelivery row, claimed (state `sending`, committed)
before the SMTP conversation and marked `sent` after it. A redelivered message that finds
`sent` does nothing; one that finds `sending` cannot know whether the mail left, and gives up
(`unknown`) rather than risk a second mail. The person can ask for another one.
"""

from __future__ import annotations

import logging
import smtplib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts import linktokens, passwords, throttling
from accounts.exceptions import MailUnavailable
from accounts.models import MailDelivery, User

logger = logging.getLogger(__name__)

PASSWORD_RESET = "password_reset"
VERIFY_EMAIL = "verify_email"


@dataclass(frozen=True)
class Kind:
    subject: str
    template: str  # accounts/mail/<template>.txt and .html
    path: str  # the page the link opens
    generator: linktokens.LinkTokenGenerator
    ttl_setting: str
    eligible: Callable[[User], bool]


KINDS = {
    PASSWORD_RESET: Kind("Reset your password", "password_reset", "/account/password-reset/confirm",
                         linktokens.password_reset, "PASSWORD_RESET_TTL",
                         lambda user: user.is_active and passwords.can_be_reset(user.password)),
    VERIFY_EMAIL: Kind("Confirm your email address", "verify_email", "/account/verify-email",
                       linktokens.email_verification, "EMAIL_VERIFICATION_TTL",
                       lambda user: user.is_active and not user.email_verified),
}


BROKER_RETRY_AFTER = 5
_broker = {"down_until": 0.0}


class TemporaryFailure(Exception):
    """The SMTP attempt failed in a way worth retrying (connection, 4xx); nothing was sent."""


def request_limits(email: str, ip: str) -> list[throttling.Limit]:
    """Limits on mails asked for: per canonical address (whether or not it has an account, so a
    429 tells nothing about one) and per client IP block. Every request counts."""
    candidates = [(f"{throttling.PREFIX}m:e:{throttling.digest(email)}", settings.THROTTLE_MAIL_EMAIL),
                  (f"{throttling.PREFIX}m:i:{throttling.digest(throttling.client_block(ip))}",
                   settings.THROTTLE_MAIL_IP)]
    return [throttling.Limit(key, count, seconds) for key, (count, seconds) in candidates if count > 0]


def queue(task: Any, user_id: int | None) -> None:
    """Queue `task(user_id)` on the default queue; MailUnavailable when the broker is down.

    Called with None when there is no account to mail: the request does the same work either way.
    After a failure the broker is not tried again for BROKER_RETRY_AFTER seconds: reaching a
    dead broker takes seconds, and every request would wait for it.
    """
    if time.monotonic() < _broker["down_until"]:
        raise MailUnavailable(retry_after=BROKER_RETRY_AFTER)
    try:
        task.apply_async(args=[user_id], retry=False)
    except Exception as exc:  # kombu/redis raise many types for one cause: broker unreachable
        _broker["down_until"] = time.monotonic() + BROKER_RETRY_AFTER
        logger.warning("mail task not queued: %s", type(exc).__name__)
        raise MailUnavailable(retry_after=BROKER_RETRY_AFTER) from exc


# Publishing may wait seconds on a dead broker: off the thread the ORM shares.
aqueue = sync_to_async(queue, thread_sensitive=False)


def link(kind: Kind, user: User) -> str:
    query = urlencode({"token": kind.generator.make_link_token(user)})
    return f"{settings.PUBLIC_BASE_URL}{kind.path}?{query}"


def build(kind_name: str, user: User) -> EmailMultiAlternatives:
    """The mail of `kind_name` for `user`, with a fresh link token, as plain text and HTML."""
    kind = KINDS[kind_name]
    context = {"link": link(kind, user), "email": user.email, "base_url": settings.PUBLIC_BASE_URL,
               "valid_hours": max(1, getattr(settings, kind.ttl_setting) // 3600)}
    text = render_to_string(f"accounts/mail/{kind.template}.txt", context)
    html = render_to_string(f"accounts/mail/{kind.template}.html", context)
    message = EmailMultiAlternatives(kind.subject, text, settings.DEFAULT_FROM_EMAIL, [user.email])
    message.attach_alternative(html, "text/html")
    return message


def _claim(delivery_id: str, kind_name: str, user_id: int) -> str | None:
    """Mark the delivery `sending` (committed); or return why it must not be sent again."""
    now = timezone.now()
    with transaction.atomic():
        row, created = MailDelivery.objects.select_for_update().get_or_create(
            pk=delivery_id, defaults={"kind": kind_name, "user_id": user_id})
        if row.state == MailDelivery.SENDING:
            # An earlier delivery of this message died between claiming and recording: the
            # mail may have left. Sending again could make it two.
            row.state = MailDelivery.UNKNOWN
            row.updated_at = now
            row.save(update_fields=["state", "updated_at"])
            logger.warning("mail outcome unknown after a worker loss; not sent again",
                           extra={"kind": kind_name, "user_id": user_id})
            return MailDelivery.UNKNOWN
        if row.state != MailDelivery.PENDING:
            return row.state
        row.state, row.attempts, row.updated_at = MailDelivery.SENDING, row.attempts + 1, now
        row.save(update_fields=["state", "attempts", "updated_at"])
    return None


def _record(delivery_id: str, state: str) -> None:
    MailDelivery.objects.filter(pk=delivery_id).update(state=state, updated_at=timezone.now())


def _permanent(exc: Exception) -> bool:
    # 5xx answers will not change on retry; 4xx and dropped connections may.
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return False


def deliver(kind_name: str, user_id: int, delivery_id: str | None) -> str:
    """Send the mail of one request unless it was sent (or possibly sent) already.

    Returns the outcome (`sent`, `skipped`, `failed`, or the state that stopped a repeat);
    raises TemporaryFailure when the attempt may be retried.
    """
    kind = KINDS[kind_name]
    user = User.objects.filter(pk=user_id).first()
    if user is None or not kind.eligible(user):
        return "skipped"
    message = build(kind_name, user)
    delivery_id = delivery_id or uuid.uuid4().hex
    stop = _claim(delivery_id, kind_name, user_id)
    if stop is not None:
        return stop
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        # smtplib reports a refusal or a broken connection: the server did not accept it.
        if _permanent(exc):
            _record(delivery_id, MailDelivery.FAILED)
            logger.error("mail refused by the server", extra={"kind": kind_name, "user_id": user_id})
            return MailDelivery.FAILED
        _record(delivery_id, MailDelivery.PENDING)
        raise TemporaryFailure(type(exc).__name__) from exc
    _record(delivery_id, MailDelivery.SENT)
    logger.info("mail sent", extra={"kind": kind_name, "user_id": user_id})
    return MailDelivery.SENT


def give_up(delivery_id: str | None, kind_name: str, user_id: int) -> None:
    """Record that the retries are exhausted."""
    if delivery_id:
        _record(delivery_id, MailDelivery.FAILED)
    logger.error("mail not sent: retries exhausted", extra={"kind": kind_name, "user_id": user_id})


def backoff(retries: int) -> int:
    """Seconds before retry number `retries` + 1: exponential, full jitter, capped."""
    return get_exponential_backoff_interval(settings.MAIL_RETRY_BACKOFF, retries,
                                            settings.MAIL_RETRY_BACKOFF_MAX, full_jitter=True)


def purge_old_deliveries() -> int:
    """Delete delivery records older than MAIL_DELIVERY_HISTORY_DAYS; returns how many."""
    cutoff = timezone.now() - timedelta(days=settings.MAIL_DELIVERY_HISTORY_DAYS)
    deleted, _ = MailDelivery.objects.filter(created_at__lt=cutoff).delete()
    return deleted
