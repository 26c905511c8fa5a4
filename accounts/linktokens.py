"""Tokens of mailed links (password reset, email verification), bound to the account's state.

Django's PasswordResetTokenGenerator pattern: a token is an HMAC (SECRET_KEY, 128 bits) over the
account's id, its current state and the time it was made. Nothing is stored; a token stops
working when the state it was made from changes (a reset token once the password hash changes,
which a reset does, so using one link kills all the others; a verification token once the
email is verified or changed) and after its time to live.

A token names its account: `<user id, base 36>-<timestamp, base 36>-<32 hex digits>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.crypto import constant_time_compare
from django.utils.http import base36_to_int, int_to_base36

from accounts.models import User

# Longer input is refused before any parsing (a real token has fewer than 50 characters).
MAX_TOKEN_LENGTH = 100
# int(x, 36) alone would also take signs, spaces and underscores.
_SHAPE = re.compile(r"(?P<uid>[0-9a-z]{1,13})-(?P<rest>[0-9a-z]{1,13}-[0-9a-f]{32})")


class LinkTokenGenerator(PasswordResetTokenGenerator):
    """A PasswordResetTokenGenerator with its own salt, state and time to live.

    `clock` returns the current naive local time (Django's convention for these tokens);
    tests replace it to move time forward.
    """

    clock: Callable[[], datetime] = staticmethod(datetime.now)

    def __init__(self, key_salt: str, ttl_setting: str, state: Callable[[User], str]):
        super().__init__()
        self.key_salt = key_salt
        self.ttl_setting = ttl_setting
        self.state = state

    def _now(self) -> datetime:
        return self.clock()

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        return f"{user.pk}|{self.state(user)}|{timestamp}"

    def make_link_token(self, user: User) -> str:
        return f"{int_to_base36(user.pk)}-{self.make_token(user)}"

    def check_token(self, user: User | None, token: str | None) -> bool:
        """Django's check with this generator's time to live instead of PASSWORD_RESET_TIMEOUT."""
        if user is None or not token:
            return False
        try:
            ts_b36, _ = token.split("-")
            timestamp = base36_to_int(ts_b36)
        except ValueError:
            return False
        if not any(constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token)
                   for secret in [self.secret, *self.secret_fallbacks]):
            return False
        age = self._num_seconds(self._now()) - timestamp
        return age <= getattr(settings, self.ttl_setting)

    def user_id_of(self, token: str) -> tuple[int, str] | None:
        """Split a link token into (user id, the generator's token); None when malformed."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            return None
        shape = _SHAPE.fullmatch(token)
        if shape is None:
            return None
        user_id = base36_to_int(shape["uid"])
        return (user_id, shape["rest"]) if 0 < user_id < 2**63 else None

    def check_link_token(self, token: str, user: User | None) -> bool:
        parts = self.user_id_of(token)
        return parts is not None and user is not None and parts[0] == user.pk and self.check_token(user, parts[1])


def _reset_state(user: User) -> str:
    # The hash changes with every password set (salted), the last login with every login.
    login = "" if user.last_login is None else user.last_login.replace(microsecond=0, tzinfo=None)
    return f"{user.password}|{login}|{user.email}|{user.is_active}"


def _verification_state(user: User) -> str:
    return f"{user.email}|{user.email_verified}"


password_reset = LinkTokenGenerator("authsite.accounts.password-reset", "PASSWORD_RESET_TTL", _reset_state)
email_verification = LinkTokenGenerator("authsite.accounts.verify-email", "EMAIL_VERIFICATION_TTL",
                                        _verification_state)
