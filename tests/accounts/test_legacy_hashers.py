"""Legacy and wrapped hashes through accounts.passwords: import form, classification, exact
verification, cost limits enforced before any computation, and wrapping."""

from __future__ import annotations

import hashlib
import logging
import unicodedata

import argon2
import pytest
from django.test import override_settings

from accounts import hashformats, passwords
from tests.support.argon2_spy import argon2_spy  # noqa: F401
from tests.support.legacy import FORMATS, PASSWORDS, hostile_hashes

PASSWORD = PASSWORDS[0]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_imports_classifies_and_verifies_exactly(name: str) -> None:
    make, status = FORMATS[name]
    for password in PASSWORDS[1:] if name == "django_pbkdf2_sha256" else PASSWORDS:
        stored = passwords.importable(make(password))
        assert passwords.classify(stored).status == status
        result = passwords.verify(password, stored)
        assert result.valid, (name, password)
        assert result.upgraded_hash is not None and passwords.hash_status(result.upgraded_hash) == "current"
        for other in {password.strip(), password + " ", unicodedata.normalize("NFC", password),
                      unicodedata.normalize("NFD", password), password.upper()} - {password}:
            assert not passwords.verify(other, stored).valid, (name, other)


def test_bare_formats_get_an_algorithm_prefix_and_keep_their_digest() -> None:
    digest = hashlib.sha1(PASSWORD.encode()).hexdigest()
    assert passwords.importable(digest.upper()) == f"sha1$${digest}"
    assert passwords.importable(digest[:32]) == f"md5$${digest[:32]}"
    bare = FORMATS["bcrypt_2y"][0](PASSWORD)
    assert passwords.importable(bare) == "bcrypt$" + bare
    phc = FORMATS["argon2i_phc"][0](PASSWORD)
    assert passwords.importable(phc) == "argon2" + phc


@pytest.mark.parametrize("name", sorted(hostile_hashes()))
def test_hostile_or_unknown_hashes_are_refused_at_import_with_the_reason(name: str) -> None:
    value, reason = hostile_hashes()[name]
    with pytest.raises(hashformats.UnsupportedHash, match=reason):
        passwords.importable(value)


@pytest.mark.parametrize("value", ["", "md5$$xyz", "$2b$04$short", "argon2$argon2d$v=19$m=1,t=1,p=1$a$b",
                                   "pbkdf2_sha256$abc$salt$hash", "\x00" * 40, "é" * 32, "a" * 400, "wrapped_md5$$x"])
def test_garbage_is_an_unknown_format_never_an_exception(value: str) -> None:
    with pytest.raises(hashformats.UnsupportedHash, match="unknown hash format"):
        passwords.importable(value)
    assert passwords.classify(value).status in {hashformats.UNUSABLE, hashformats.BEYOND_LIMITS}
    assert not passwords.verify(PASSWORD, value).valid


def test_a_stored_hash_beyond_the_limits_is_never_computed(caplog: pytest.LogCaptureFixture) -> None:
    stored = passwords.importable(FORMATS["django_pbkdf2_sha1"][0](PASSWORD))  # 1000 iterations
    bcrypt_hash = passwords.importable(FORMATS["bcrypt_2b"][0](PASSWORD))  # rounds 4
    with override_settings(PASSWORD_LIMIT_PBKDF2_ITERATIONS=999, PASSWORD_LIMIT_BCRYPT_ROUNDS=4):
        assert passwords.classify(stored).status == hashformats.BEYOND_LIMITS
        with caplog.at_level(logging.WARNING, logger="accounts.passwords"):
            # The right password fails: had the hash been computed, it would have matched.
            assert not passwords.verify(PASSWORD, stored).valid
        assert passwords.verify(PASSWORD, bcrypt_hash).valid  # at the limit is fine
    record = next(r for r in caplog.records if "beyond the cost limits" in r.getMessage())
    assert record.kind == "pbkdf2_sha1" and "iterations" in record.limit  # type: ignore[attr-defined]
    assert stored.rsplit("$", 1)[1] not in caplog.text and PASSWORD not in caplog.text


def test_beyond_limits_at_login_costs_one_dummy_verification(argon2_spy) -> None:  # type: ignore[no-untyped-def]
    stored = "argon2" + argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=2).hash(PASSWORD)
    with override_settings(PASSWORD_LIMIT_ARGON2_PARALLELISM=1):
        argon2_spy.reset()
        assert not passwords.verify(PASSWORD, stored).valid
    assert argon2_spy.current == 1 and len(argon2_spy.calls) == 1


@pytest.mark.parametrize("name", sorted(n for n, (_, status) in FORMATS.items() if status == "weak"))
def test_weak_hashes_wrap_and_still_verify_with_no_trace_of_the_digest(name: str) -> None:
    make, _ = FORMATS[name]
    password = PASSWORDS[3]
    stored = passwords.importable(make(password))
    digest = passwords.classify(stored).digest
    wrapped = passwords.wrap(stored)
    assert wrapped is not None and len(wrapped) <= 256
    info = passwords.classify(wrapped)
    assert info.status == hashformats.WRAPPED and info.kind.endswith(passwords.classify(stored).kind)
    assert digest.lower() not in wrapped.lower()
    assert passwords.wrap(wrapped) is None  # never wrapped twice
    result = passwords.verify(password, wrapped)
    assert result.valid and result.upgraded_hash and passwords.hash_status(result.upgraded_hash) == "current"
    assert not passwords.verify(unicodedata.normalize("NFC", password), wrapped).valid
    assert not passwords.verify(password.strip() + "x", wrapped).valid


def test_sound_hashes_are_not_wrapped() -> None:
    for name, (make, status) in FORMATS.items():
        if status != "weak" and name != "django_pbkdf2_sha256":
            assert passwords.wrap(passwords.importable(make(PASSWORD))) is None, name
    assert passwords.wrap(passwords.hash_password(PASSWORD)) is None


def test_summary_names_kind_parameters_and_status_only() -> None:
    stored = passwords.importable(FORMATS["bcrypt_2a"][0](PASSWORD))
    assert passwords.hash_summary(stored) == "bcrypt rounds=4 (weak)"
    assert passwords.hash_summary("!unusable") == "unusable (unusable)"


def test_hashes_at_the_configured_cost_are_never_beyond_the_limits() -> None:
    with override_settings(ARGON2_TIME_COST=20, ARGON2_MEMORY_COST=1024, PASSWORD_LIMIT_ARGON2_TIME=16):
        stored = passwords.hash_password(PASSWORD)
        assert passwords.classify(stored).status == hashformats.CURRENT
        assert passwords.verify(PASSWORD, stored).valid
        assert passwords.classify(passwords.wrap(passwords.importable(FORMATS["hex_md5"][0](PASSWORD))) or "").status \
            == hashformats.WRAPPED
