"""Helpers for tests of the hot paths' two database paths: the async pool (authsite.kit.asyncdb)
and the ORM behind sync_to_async. Tests using them must be transactional: the pool's own
connections see only committed rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction
from django.db.models import Model

from authsite.kit import asyncdb


@pytest.fixture(params=["pool", "orm"])
def db_path(request: pytest.FixtureRequest, settings: Any) -> str:
    """Run the test on each path: the pool, then the ORM (ASYNC_DB_POOL_SIZE=0)."""
    settings.ASYNC_DB_POOL_SIZE = 4 if request.param == "pool" else 0
    assert asyncdb.enabled() is (request.param == "pool")
    return str(request.param)


def field_values(obj: Model) -> dict[str, Any]:
    """Every loaded field of `obj`, by attribute name."""
    deferred = obj.get_deferred_fields()
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname not in deferred}


def other_backends() -> int:
    """Connections to the test database besides this thread's Django connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
        return int(cursor.fetchone()[0])


def while_a_lock_is_held(hold: Callable[[], None], act: Callable[[], Any]) -> dict[str, Any]:
    """Run `hold` in a transaction on one thread and, once it holds its locks, `act` on another;
    check that `act` waits for the lock; let `hold` commit. Returns `act`'s outcome: {"result":
    ...} or {"error": the exception it raised}."""
    locked, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def holder() -> None:
        try:
            with transaction.atomic():
                hold()
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    def actor() -> None:
        try:
            outcome["result"] = act()
        except Exception as exc:  # noqa: BLE001 - examined by the caller
            outcome["error"] = exc
        finally:
            connection.close()

    first, second = threading.Thread(target=holder), threading.Thread(target=actor)
    first.start()
    try:
        assert locked.wait(10)
        second.start()
        deadline = time.monotonic() + 10
        while not waiting_on_a_lock() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waiting_on_a_lock(), "the second thread is not waiting for the row lock"
        assert second.is_alive() and not outcome
    finally:
        release.set()
        first.join(10)
    second.join(10)
    return outcome


def waiting_on_a_lock() -> bool:
    """Whether a connection to the test database is waiting for a lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock'")
        return bool(cursor.fetchone()[0])


@contextmanager
def pool_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL of every statement sent through an async psycopg cursor (the pool's) meanwhile."""
    sent: list[str] = []
    real = psycopg.AsyncCursor.execute

    async def execute(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return await real(self, query, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(psycopg.AsyncCursor, "execute", execute)
        yield sent
