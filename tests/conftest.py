"""Shared fixtures. Tests run against the real PostgreSQL and Redis named by DATABASE_URL and
REDIS_URL (the Makefile and .ci/run set them); under CI=true nothing may be skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings

from tests.support import servers  # noqa: F401  (fixture helpers)
from tests.support.commit_hooks import on_commit_at_code_level, uses_test_transaction  # noqa: F401
from tests.support.servers import live_server_factory  # noqa: F401

IN_CI = os.environ.get("CI") == "true"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IN_CI and not (settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and settings.REDIS_URL):
        raise pytest.UsageError("CI must run on PostgreSQL and Redis: set DATABASE_URL and REDIS_URL")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if IN_CI and report.skipped:
        raise RuntimeError(f"test skipped under CI=true: {report.nodeid}")


@pytest.fixture(autouse=True, scope="session")
def _attempts_written_by_tests() -> None:
    """In this process the login-attempt log is written only when a test calls
    accounts.attempts.flush(): a background write would land outside the test's transaction.
    Servers started by tests (uvicorn) keep the background writer."""
    settings.LOGIN_ATTEMPT_FLUSH_SECONDS = 10**6
    settings.LOGIN_ATTEMPT_BATCH = 10**6


@pytest.fixture(autouse=True)
def _async_pool_only_where_rows_commit(request: pytest.FixtureRequest) -> Iterator[None]:
    """A `db` test's rows live in a transaction that never commits, which the async pool's own
    connections (authsite.kit.asyncdb) cannot see: such tests run the hot paths on the ORM.
    Transactional tests and the servers that tests start use the pool."""
    if uses_test_transaction(request):
        with override_settings(ASYNC_DB_POOL_SIZE=0):
            yield
    else:
        yield


@pytest.fixture(autouse=True)
def _clean_shared_state() -> Iterator[None]:
    """Every test starts with an empty Redis db, fresh key ring and token cache, and no queued
    login attempts."""
    from accounts import attempts
    from authsite.kit import stores
    from tokens import keys, revocation, services

    attempts.discard()
    stores.reset()
    client = stores.client()
    if client is not None:
        client.flushdb()
    keys.ring.reset()
    services.verified_cache.clear()
    revocation.reset()
    yield
    attempts.discard()  # nothing left for the exit-time flush, after the test database is gone
