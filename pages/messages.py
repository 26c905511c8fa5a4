"""What the pages say when a service refuses: the API's messages, in sentences for people."""

from __future__ import annotations

import math
from datetime import timedelta

from django.utils import timezone

from accounts.exceptions import (AccountUnavailable, EmailTaken, EmailUnverified, InvalidCredentials, MailUnavailable,
                                 Overloaded, TooManyAttempts)
from authsite.kit.exceptions import ValidationFailed

WRONG_CREDENTIALS = "The email or password is incorrect."
EMAIL_TAKEN = "An account with this email already exists."
BUSY = "The service is busy. Try again in a few seconds."
UNAVAILABLE = "This account is no longer active."
UNVERIFIED = "Confirm your email address first: open the link we mailed you."


def wait_text(seconds: int) -> str:
    """'in 14 minutes (after 05:42 UTC)': how long a throttled person waits, and until when."""
    until = timezone.now() + timedelta(seconds=seconds)
    if seconds < 60:
        span = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        minutes = math.ceil(seconds / 60)
        span = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"in {span} (after {until:%H:%M} UTC)"


def throttled(exc: TooManyAttempts) -> str:
    return f"Too many attempts. Try again {wait_text(exc.retry_after)}."


class FormErrors:
    """Errors of one form: messages per field, and messages for the whole form."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}
        self.form: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.fields or self.form)

    @classmethod
    def of(cls, exc: Exception) -> "FormErrors":
        """The errors a service raised, placed on their fields (ValidationFailed.fields) or on the form."""
        errors = cls()
        if isinstance(exc, ValidationFailed):
            errors.fields = {name: list(messages) for name, messages in exc.fields.items()}
            if not errors.fields:
                errors.form.append(exc.message)
        elif isinstance(exc, InvalidCredentials):
            errors.form.append(WRONG_CREDENTIALS)
        elif isinstance(exc, EmailTaken):
            errors.fields["email"] = [EMAIL_TAKEN]
        elif isinstance(exc, TooManyAttempts):
            errors.form.append(throttled(exc))
        elif isinstance(exc, (Overloaded, MailUnavailable)):
            errors.form.append(BUSY)
        elif isinstance(exc, EmailUnverified):
            errors.form.append(UNVERIFIED)
        elif isinstance(exc, AccountUnavailable):
            errors.form.append(UNAVAILABLE)
        else:
            raise exc
        return errors

    def for_template(self, first_field: str = "") -> dict[str, object]:
        """The errors, and which field takes the focus: the first with an error, else `first_field`."""
        focus = next(iter(self.fields), first_field)
        return {"field_errors": self.fields, "form_errors": self.form, "focus": focus}
