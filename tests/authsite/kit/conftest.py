"""Fixtures shared by this package's tests (defined in tests.support.client_api)."""

from tests.support.client_api import api, hash_spy, tokens, user  # noqa: F401
