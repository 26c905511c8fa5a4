"""Password reset: ask for a mailed link, then set a new password with its token.

Asking looks the same whatever the address: one lookup, one queued task, the same answer, no
hashing; the worker decides whether a mail goes out (accounts.mail). Confirming hashes the new
password in the pool first, then in one transaction swaps the hash (only if it is still the one
the token was made from) and announces credentials_changed, so the account's sessions end with
the old password. Every other reset link of the account dies with that hash.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.db import models, transaction

from accounts import linktokens, mail, passwords, profiles, tasks, throttling
from accounts.exceptions import InvalidLinkToken, MailUnavailable
from accounts.models import User
from accounts.services import check_email, check_password_rules
from accounts.signals import credentials_changed
from authsite.kit import twins

logger = logging.getLogger(__name__)


def _account_id(email: str) -> int | None:
    return User.objects.filter(email=email).values_list("pk", flat=True).first()


async def _aaccount_id(email: str) -> int | None:
    return await User.objects.filter(email=email).values_list("pk", flat=True).afirst()


def _request(raw_email: str, ip: str) -> twins.Core[None]:
    """The one core of `request_reset` / `arequest_reset` (see authsite.kit.twins)."""
    email = check_email(raw_email)
    yield twins.Io(throttling.acquire, throttling.aacquire, (mail.request_limits(email, ip),))
    user_id = yield twins.Io(_account_id, _aaccount_id, (email,))
    yield twins.Io(mail.queue, mail.aqueue, (tasks.send_password_reset, user_id))


def request_reset(raw_email: str, ip: str) -> None:
    """Queue a reset mail for the account of `raw_email`, if there is one that may reset.

    Raises ValidationFailed (malformed address), TooManyAttempts or MailUnavailable; otherwise
    returns the same way whether or not the account exists.
    """
    twins.run(_request(raw_email, ip))


async def arequest_reset(raw_email: str, ip: str) -> None:
    """Async twin of `request_reset`."""
    await twins.arun(_request(raw_email, ip))


def _token_owner(token: str) -> User | None:
    parts = linktokens.password_reset.user_id_of(token)
    user = User.objects.filter(pk=parts[0], is_active=True).first() if parts else None
    return user if linktokens.password_reset.check_link_token(token, user) else None


def _account_for(token: str, new_password: str) -> User:
    """The active account the token was made for, with the new password checked; or an error."""
    user = _token_owner(token)
    if user is None:
        raise InvalidLinkToken()
    check_password_rules(new_password, user, "new_password")
    passwords.get_pool().ensure_room()
    return user


_aaccount_for = sync_to_async(_account_for)


def link_is_valid(token: str) -> bool:
    """Whether a reset link's token would be accepted now (pages check before asking for a password)."""
    return _token_owner(token) is not None


def _swap_hash(user_id: int, old: str | None, new: str, reason: str, **also: object) -> bool:
    """In one transaction: replace the hash (only if it is still `old`, when given) and announce
    the credential change as `reason`. False when the row did not match."""
    with transaction.atomic():
        rows = User.objects.filter(pk=user_id, is_active=True)
        if old is not None:
            rows = rows.filter(password=old)
        # The plain QuerySet.update: UserQuerySet.update would announce a "password_changed";
        # this change is announced once, as what it is.
        updated = models.QuerySet.update(rows, password=new, **also)
        if updated:
            credentials_changed.send(sender=User, user_id=user_id, reason=reason)
            transaction.on_commit(lambda: profiles.forget(user_id))
    return bool(updated)


def _store(user: User, encoded: str) -> None:
    # Compare-and-swap: a link whose password was changed meanwhile (another link used, a
    # password change, an admin reset) must not overwrite it. Following a link mailed to the
    # address also proves the address.
    if not _swap_hash(user.pk, user.password, encoded, "password_reset", email_verified=True):
        raise InvalidLinkToken()
    # The owner proved the address: failed guesses by others no longer lock them out.
    throttling.unlock(user.email)


_astore = sync_to_async(_store)


def _confirm(token: str, new_password: str) -> twins.Core[None]:
    """The one core of `confirm_reset` / `aconfirm_reset`: check, hash in the pool, store."""
    user = yield twins.Io(_account_for, _aaccount_for, (token, new_password))
    encoded = yield twins.Io(passwords.hash_in_pool, passwords.ahash, (new_password,))
    yield twins.Io(_store, _astore, (user, encoded))


def confirm_reset(token: str, new_password: str) -> None:
    """Set the password of the token's account and end all its sessions.

    Raises InvalidLinkToken, ValidationFailed (fields.new_password) or Overloaded.
    """
    twins.run(_confirm(token, new_password))


async def aconfirm_reset(token: str, new_password: str) -> None:
    """Async twin of `confirm_reset`."""
    await twins.arun(_confirm(token, new_password))


def force_reset(user_id: int) -> bool:
    """Staff: make the account's password unusable, end its sessions and mail the owner a reset
    link (they can also ask again through "forgot password"). False when there is no such
    active account. A broker outage loses only the mail, never the reset."""
    if not _swap_hash(user_id, None, passwords.forced_reset_marker(), "reset_forced"):
        return False
    try:
        mail.queue(tasks.send_password_reset, user_id)
    except MailUnavailable:
        logger.warning("forced reset: reset mail not queued", extra={"user_id": user_id})
    return True
