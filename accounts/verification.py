"""Email verification: a mailed link proves that the account's owner reads its address.

Signup queues the first mail; the owner may ask for another (throttled). The token is bound to
the address and to the verified flag, so it works once and dies if the address changes.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.db import transaction

from accounts import linktokens, mail, profiles, tasks, throttling
from accounts.exceptions import AccountUnavailable, InvalidLinkToken, MailUnavailable
from accounts.models import User

logger = logging.getLogger(__name__)


def _verify(token: str) -> None:
    parts = linktokens.email_verification.user_id_of(token)
    user = User.objects.filter(pk=parts[0], is_active=True).first() if parts else None
    if user is None or not linktokens.email_verification.check_link_token(token, user):
        raise InvalidLinkToken()
    with transaction.atomic():
        updated = (User.objects.filter(pk=user.pk, email=user.email, email_verified=False)
                   .update(email_verified=True))
        if not updated:  # verified (or the address changed) since the token was checked
            raise InvalidLinkToken()
        transaction.on_commit(lambda: profiles.forget(user.pk))


def verify_email(token: str) -> None:
    """Mark the token's account verified; InvalidLinkToken when bad, expired or used."""
    _verify(token)


async def averify_email(token: str) -> None:
    await sync_to_async(_verify)(token)


async def aqueue_after_signup(user_id: int) -> None:
    """Queue the first verification mail; a broker outage must not fail the signup (the owner
    can ask again), so it is only logged."""
    try:
        await mail.aqueue(tasks.send_verification, user_id)
    except MailUnavailable:
        logger.warning("verification mail not queued at signup", extra={"user_id": user_id})


async def aresend(user_id: int, ip: str) -> None:
    """Queue another verification mail for the caller (none if already verified).

    Raises AccountUnavailable, TooManyAttempts or MailUnavailable.
    """
    row = await User.objects.filter(pk=user_id, is_active=True).values_list("email", "email_verified").afirst()
    if row is None:
        raise AccountUnavailable()
    email, verified = row
    await throttling.aacquire(mail.request_limits(email, ip))
    if not verified:
        await mail.aqueue(tasks.send_verification, user_id)
