"""The async pool (authsite/kit/asyncdb.py): one per event loop and closed with it, UTC and
autocommit connections, Django's errors, and ORM queries compiled to the rows the ORM reads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg
import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.db import DataError, IntegrityError, OperationalError, ProgrammingError, connection
from django.test import AsyncClient
from django.utils import timezone

from accounts.models import ThrottleCounter, User
from authsite.kit import asyncdb, asyncorm
from authsite.kit.errors import response_for
from tests.support.client_api import API, PASSWORD
from tests.support.dbpaths import field_values, other_backends
from tests.support.servers import free_port
from tokens.models import RefreshToken, Session

pytestmark = pytest.mark.django_db(transaction=True)
INSERT_COUNTER = ("INSERT INTO accounts_throttlecounter (key, count, expires_at, label) "
                  "VALUES (%s, 1, now(), '')")


@pytest.fixture(autouse=True)
def pool_on(settings: Any) -> None:
    settings.ASYNC_DB_POOL_SIZE = 4


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether `condition()` held within `timeout` (a backend leaves pg_stat_activity shortly after its client)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class LoopThread:
    """An event loop that stays alive in its own thread until `stop()`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def stop(self, *, shut_down_async_generators: bool = True) -> None:
        if shut_down_async_generators:
            self.run(self.loop.shutdown_asyncgens())
        else:
            tasks = self.run(self._tasks())
            for task in tasks:
                self.loop.call_soon_threadsafe(task.cancel)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @staticmethod
    async def _tasks() -> set[asyncio.Task[Any]]:
        return asyncio.all_tasks() - {asyncio.current_task()}


def pid() -> Coroutine[Any, Any, Any]:
    return asyncdb.fetchone("SELECT pg_backend_pid()")


# --- when ---

def test_the_pool_is_used_on_postgresql_with_a_size_and_not_otherwise(settings: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert asyncdb.enabled()
    settings.ASYNC_DB_POOL_SIZE = 0
    assert not asyncdb.enabled()
    settings.ASYNC_DB_POOL_SIZE = 4
    try:
        monkeypatch.setattr(connection, "vendor", "sqlite")
        asyncdb.reset()
        assert not asyncdb.enabled()
    finally:
        monkeypatch.undo()
        asyncdb.reset()
    assert asyncdb.enabled()


# --- pools and loops ---

def test_a_pool_closes_its_connections_when_its_loop_ends() -> None:
    before = other_backends()
    for _ in range(20):  # a new loop each time, as each request of Django's test client gets
        assert async_to_sync(asyncdb.fetchone)("SELECT 1") == (1,)
    assert wait_until(lambda: other_backends() == before), other_backends()


def test_each_live_loop_has_its_own_pool() -> None:
    before = other_backends()
    loops = [LoopThread(), LoopThread()]
    try:
        first = [looped.run(pid()) for looped in loops]
        # A pool shared by both loops would hand its one idle connection to each in turn.
        assert first[0] != first[1]
        assert [looped.run(pid()) for looped in loops] == first
        assert other_backends() == before + 2
    finally:
        for looped in loops:
            looped.stop()
    assert wait_until(lambda: other_backends() == before), other_backends()


def test_a_loop_closed_without_shutting_down_leaves_no_connection_after_the_next_pool_is_made() -> None:
    before = other_backends()
    looped = LoopThread()
    looped.run(pid())
    looped.stop(shut_down_async_generators=False)
    assert other_backends() == before + 1
    async_to_sync(asyncdb.fetchone)("SELECT 1")
    assert wait_until(lambda: other_backends() == before), other_backends()


def test_changing_the_pool_size_closes_the_pools_of_live_loops(settings: Any) -> None:
    before = other_backends()
    looped = LoopThread()
    try:
        old = looped.run(pid())
        settings.ASYNC_DB_POOL_SIZE = 2
        assert wait_until(lambda: other_backends() == before), other_backends()
        assert looped.run(pid()) != old  # a new pool, from the new settings
    finally:
        looped.stop()


# --- connections ---

def test_connections_are_in_utc_and_load_aware_timestamps() -> None:
    zone, now = async_to_sync(asyncdb.fetchone)("SELECT current_setting('TimeZone'), now()")
    assert zone == "UTC"
    assert now.utcoffset().total_seconds() == 0
    assert abs((now - timezone.now()).total_seconds()) < 60


def test_a_statement_outside_a_transaction_commits_at_once() -> None:
    assert async_to_sync(asyncdb.execute)(INSERT_COUNTER, ["alone"]) == 1
    # Django's own connection sees it: nothing is left uncommitted.
    assert ThrottleCounter.objects.filter(key="alone").exists()


def test_a_transaction_commits_when_its_block_ends_and_rolls_back_when_it_raises() -> None:
    async def scenario() -> None:
        async with asyncdb.transaction() as conn:
            await asyncdb.execute(INSERT_COUNTER, ["kept"], conn)
            assert not await ThrottleCounter.objects.filter(key="kept").aexists()  # not yet committed
        with pytest.raises(RuntimeError):
            async with asyncdb.transaction() as conn:
                await asyncdb.execute(INSERT_COUNTER, ["dropped"], conn)
                raise RuntimeError("abandon")

    async_to_sync(scenario)()
    assert set(ThrottleCounter.objects.values_list("key", flat=True)) == {"kept"}


# --- errors ---

@pytest.mark.parametrize(("sql", "error", "cause"), [
    ("INSERT INTO accounts_throttlecounter (key, count, expires_at) VALUES ('taken', 1, now())",
     IntegrityError, psycopg.errors.UniqueViolation),
    ("SELECT * FROM no_such_table", ProgrammingError, psycopg.errors.UndefinedTable),
    ("SELECT 1 / 0", DataError, psycopg.errors.DivisionByZero),
])
def test_database_errors_are_djangos_with_psycopgs_as_their_cause(sql: str, error: type[Exception],
                                                                 cause: type[Exception]) -> None:
    ThrottleCounter.objects.create(key="taken", expires_at=timezone.now())
    with pytest.raises(error) as info:
        async_to_sync(asyncdb.execute)(sql)
    assert isinstance(info.value.__cause__, cause)
    assert async_to_sync(asyncdb.fetchone)("SELECT 2") == (2,)  # the pool goes on


@pytest.mark.asyncio
async def test_an_unreachable_postgresql_is_an_operational_error_and_a_503(monkeypatch: pytest.MonkeyPatch,
                                                                        settings: Any) -> None:
    options = {**connection.settings_dict["OPTIONS"], "connect_timeout": 1, "pool": {"timeout": 1}}
    monkeypatch.setattr(connection, "settings_dict",
                        {**connection.settings_dict, "PORT": str(free_port()), "OPTIONS": options})
    settings.ASYNC_DB_POOL_SIZE = 2  # a new pool, from the patched connection settings
    started = time.monotonic()
    with pytest.raises(OperationalError) as info:
        await asyncdb.fetchone("SELECT 1")
    assert time.monotonic() - started < 5  # the configured wait, not the pool's default one
    answer = response_for(info.value)
    assert answer.status_code == 503 and answer["Retry-After"]
    # Through the API: the login's user lookup runs on the pool.
    response = await AsyncClient().post(f"{API}/login", {"email": "nobody@example.com", "password": PASSWORD},
                                        content_type="application/json")
    assert response.status_code == 503 and response.json()["error"] == "unavailable"
    assert response["Retry-After"]


# --- compiled queries ---

def test_a_compiled_query_reads_the_instances_the_orm_reads_select_related_included() -> None:
    user = User.objects.create_user("compiled@example.com", PASSWORD)
    now = timezone.now()
    session = Session.objects.create(user=user, last_used_at=now, expires_at=now, family="f" * 32)
    RefreshToken.objects.create(token_hash="h" * 64, session=session, expires_at=now)
    query = asyncorm.Query("test.refresh_with_session",
                          lambda digest: asyncorm.first_of(RefreshToken.objects.select_related("session", "session__user")
                                                          .filter(token_hash=digest)), digest="d" * 64)
    pooled = async_to_sync(query.first)(digest="h" * 64)
    orm = RefreshToken.objects.select_related("session", "session__user").filter(token_hash="h" * 64).first()
    assert field_values(pooled) == field_values(orm)
    assert field_values(pooled.session) == field_values(orm.session)
    assert field_values(pooled.session.user) == field_values(orm.session.user)
    assert not pooled._state.adding and pooled._state.db == "default"
    assert async_to_sync(query.first)(digest="x" * 64) is None


def test_call_values_fill_the_parameters_by_name_whatever_order_django_compiles_them_in() -> None:
    compiled = asyncorm.compile_query(User.objects.filter(pk=7, password="p", email="e", is_staff=False),
                                     {"pk": 7, "password": "p", "email": "e"})
    assert compiled.sql.count("%s") == 3
    position = {name: compiled.sql.index(f'"accounts_user"."{column}" = %s')
                for name, column in (("pk", "id"), ("password", "password"), ("email", "email"))}
    values = {"pk": 8, "password": "P", "email": "E"}
    assert compiled.params(values) == [values[name] for name in sorted(values, key=position.__getitem__)]
    # A value the query holds itself stays a constant.
    constant = asyncorm.compile_query(User.objects.filter(pk=7, email="fixed@example.com"), {"pk": 7})
    assert sorted(constant.params({"pk": 9}), key=str) == [9, "fixed@example.com"]


@pytest.mark.parametrize("example", [{"email": "e", "pk": 1}, {"email": "same", "password": "same"}])
def test_example_values_must_be_distinct_parameters_of_the_query(example: dict[str, Any]) -> None:
    with pytest.raises(ImproperlyConfigured):
        asyncorm.compile_query(User.objects.filter(email=example["email"], password=example.get("password", "x")),
                              example)
