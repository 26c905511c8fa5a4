"""accounts/emails.py: one canonical form per address."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.emails import canonical_email, clean_email


@pytest.mark.parametrize("raw", [
    "alice@example.com", "Alice@Example.COM", "  alice@example.com\n", "ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    "ＡＬＩＣＥ@EXAMPLE.com",
])
def test_variants_share_one_canonical_form(raw: str) -> None:
    assert canonical_email(raw) == "alice@example.com"
    assert clean_email(raw) == "alice@example.com"


def test_canonical_form_is_stable() -> None:
    for raw in ("Straße@Example.com", "ǅemal@example.com", "ﬁle@example.com"):
        once = canonical_email(raw)
        assert canonical_email(once) == once


@pytest.mark.parametrize("raw", ["", "   ", "no-at-sign", "a@b@c.com", "x" * 250 + "@example.com"])
def test_clean_email_refuses_bad_addresses(raw: str) -> None:
    with pytest.raises(ValidationError):
        clean_email(raw)
