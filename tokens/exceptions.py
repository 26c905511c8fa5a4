"""Domain errors raised by token services; the project's error table maps them to HTTP."""

from __future__ import annotations

from authsite.kit.exceptions import ServiceError


class TokenError(ServiceError):
    """Base of every token error."""


class InvalidToken(TokenError):
    """A token is missing, malformed, forged, expired, revoked or of the wrong kind.

    The reason stays internal (for logs and metrics); clients always see the same answer.
    """

    def __init__(self, reason: str = "invalid"):
        super().__init__(reason)
        self.reason = reason


class SessionNotFound(TokenError):
    """No session with that id belongs to the caller."""
