"""The table that maps every domain exception to its HTTP answer (settings.API_ERROR_TABLE).

Domain exceptions stay HTTP-free in their apps; `authsite.kit.errors.response_for` reads this table.
"""

from __future__ import annotations

from accounts import exceptions as acc
from authsite.kit.errors import ErrorSpec
from authsite.kit.exceptions import ValidationFailed
from tokens import exceptions as tok

BEARER_CHALLENGE = 'Bearer error="invalid_token"'
_INVALID_TOKEN = ErrorSpec(401, "invalid_token", "The token is missing, invalid or expired.",
                           {"WWW-Authenticate": BEARER_CHALLENGE})

ERRORS: dict[type[Exception], ErrorSpec] = {
    ValidationFailed: ErrorSpec(400, "validation_error", "Invalid input."),
    acc.EmailTaken: ErrorSpec(409, "email_taken", "An account with this email already exists."),
    acc.InvalidCredentials: ErrorSpec(401, "invalid_credentials", "Invalid email or password."),
    acc.TooManyAttempts: ErrorSpec(429, "too_many_attempts", "Too many attempts. Try again later."),
    acc.Overloaded: ErrorSpec(503, "overloaded", "The service is busy. Try again shortly."),
    acc.AccountUnavailable: _INVALID_TOKEN,
    tok.InvalidToken: _INVALID_TOKEN,
    tok.SessionNotFound: ErrorSpec(404, "not_found", "No such session."),
    acc.InvalidLinkToken: ErrorSpec(400, "invalid_token", "The link is invalid, expired or already used."),
    acc.EmailUnverified: ErrorSpec(403, "email_unverified", "Verify your email address before logging in."),
    acc.MailUnavailable: ErrorSpec(503, "unavailable", "A dependency is unavailable. Try again shortly."),
}
