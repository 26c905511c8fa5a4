"""Fixtures shared by this package's tests."""

from collections.abc import Iterator

import pytest
from django.test import override_settings

from authsite.kit import stores
from tests.support.client_api import api, hash_spy, tokens, user  # noqa: F401


@pytest.fixture(params=["redis", "database"])
def store(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test on each counter store: Redis, and the database (REDIS_URL unset)."""
    if request.param == "database":
        with override_settings(REDIS_URL=""):
            yield "database"
    else:
        if not stores.enabled():
            pytest.skip("REDIS_URL is not set")
        yield "redis"
