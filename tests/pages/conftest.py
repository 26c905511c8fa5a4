"""Fixtures shared by this package's tests."""

from tests.support.client_api import api, hash_spy, tokens, user  # noqa: F401
