"""Shared fixtures. Tests run against the real PostgreSQL and Redis named by DATABASE_URL and
REDIS_URL (the Makefile and .ci/run set them); under CI=true nothing may be skipped."""

from __future__ import annotations

import os

import pytest
from django.conf import settings

from tests.support import servers  # noqa: F401  (fixture helpers)
from tests.support.commit_hooks import on_commit_at_code_level  # noqa: F401
from tests.support.servers import live_server_factory  # noqa: F401

IN_CI = os.environ.get("CI") == "true"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IN_CI and not (settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and settings.REDIS_URL):
        raise pytest.UsageError("CI must run on PostgreSQL and Redis: set DATABASE_URL and REDIS_URL")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if IN_CI and report.skipped:
        raise RuntimeError(f"test skipped under CI=true: {report.nodeid}")


@pytest.fixture(autouse=True)
def _clean_shared_state() -> None:
    """Every test starts with an empty Redis db, fresh key ring and token cache."""
    from authsite.kit import stores
    from tokens import keys, revocation, services

    stores.reset()
    client = stores.client()
    if client is not None:
        client.flushdb()
    keys.ring.reset()
    services.verified_cache.clear()
    revocation.reset()
