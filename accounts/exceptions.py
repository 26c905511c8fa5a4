"""Domain errors raised by account services; the project's error table maps them to HTTP."""

from __future__ import annotations

from authsite.kit.exceptions import ServiceError


class AccountError(ServiceError):
    """Base of every error an account service reports to its caller."""


class EmailTaken(AccountError):
    """Signup with an email that already belongs to an account."""


class InvalidCredentials(AccountError):
    """Login failed. Deliberately says nothing about why."""


class TooManyAttempts(AccountError):
    """A throttle limit is reached; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = max(1, int(retry_after))


class Overloaded(AccountError):
    """The hashing pool of this process is full; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int = 1):
        super().__init__(retry_after)
        self.retry_after = max(1, int(retry_after))


class AccountUnavailable(AccountError):
    """The authenticated account no longer exists or is inactive: its tokens are void."""


class InvalidLinkToken(AccountError):
    """A mailed link's token is malformed, tampered with, expired, used, or not this account's."""


class EmailUnverified(AccountError):
    """The password was right, but this deployment requires a verified email to log in."""


class MailUnavailable(AccountError):
    """The mail could not be queued (the Celery broker is unreachable)."""

    def __init__(self, retry_after: int = 5):
        super().__init__(retry_after)
        self.retry_after = retry_after
