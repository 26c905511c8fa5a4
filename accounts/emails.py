"""Email canonical form: one account per address, whatever its case or Unicode form."""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email


def canonical_email(raw: str) -> str:
    """Trim, NFKC-normalise and lower-case an address.

    `Alice@Example.COM`, ` alice@example.com ` and its full-width form are one account.
    """
    text = unicodedata.normalize("NFKC", raw.strip())
    return unicodedata.normalize("NFKC", text.lower())


def clean_email(raw: str) -> str:
    """Canonical form of a valid address; raise django ValidationError otherwise."""
    email = canonical_email(raw)
    if len(email) > settings.EMAIL_MAX_LENGTH:
        raise ValidationError(f"Must be at most {settings.EMAIL_MAX_LENGTH} characters.")
    validate_email(email)
    return email
