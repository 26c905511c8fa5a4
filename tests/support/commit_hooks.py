"""transaction.on_commit inside pytest-django's per-test transaction.

A `db` test runs inside one transaction that is rolled back at the end, so Django never runs
on_commit callbacks there. This fixture runs them at the point where production would commit:
when the code's own outermost atomic block exits without error (or at once, outside any block
of the code). Callbacks of a block that rolled back are discarded by Django as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper


def uses_test_transaction(request: pytest.FixtureRequest) -> bool:
    """Whether the test runs inside pytest-django's never-committed per-test transaction."""
    if {"transactional_db", "live_server_factory", "live_server"} & set(request.fixturenames):
        return False
    marker = request.node.get_closest_marker("django_db")
    if marker is not None:
        return not (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    return "db" in request.fixturenames


def _run_pending(conn: BaseDatabaseWrapper) -> None:
    while conn.run_on_commit:
        _, func, robust = conn.run_on_commit.pop(0)
        if robust:
            try:
                func()
            except Exception:  # noqa: BLE001 - as Django does for robust callbacks
                pass
        else:
            func()


@pytest.fixture(autouse=True)
def on_commit_at_code_level(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if not uses_test_transaction(request):
        yield
        return
    request.getfixturevalue("db")
    base = len(connection.atomic_blocks)
    real_on_commit = BaseDatabaseWrapper.on_commit
    real_exit = transaction.Atomic.__exit__

    def on_commit(self: BaseDatabaseWrapper, func: Any, robust: bool = False) -> None:
        real_on_commit(self, func, robust)
        if self is connection and len(self.atomic_blocks) <= base:
            _run_pending(self)

    def exit_(self: transaction.Atomic, exc_type: Any, exc_value: Any, traceback: Any) -> Any:
        result = real_exit(self, exc_type, exc_value, traceback)
        if exc_type is None and len(connection.atomic_blocks) == base and not connection.needs_rollback:
            _run_pending(connection)
        return result

    monkeypatch.setattr(BaseDatabaseWrapper, "on_commit", on_commit)
    monkeypatch.setattr(transaction.Atomic, "__exit__", exit_)
    yield
