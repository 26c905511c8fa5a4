"""Async database access without thread hops: a psycopg connection pool per event loop.

An ORM call from async code costs a thread hop (`sync_to_async`) and the ORM's own work each
time. Hot paths run their SQL here instead, on a `psycopg_pool.AsyncConnectionPool` of the
running event loop. The SQL comes from the models (authsite.kit.asyncorm compiles querysets and
writes model instances).

`enabled()` says whether to use it: the default database is PostgreSQL and ASYNC_DB_POOL_SIZE is
above 0. Otherwise callers keep the ORM through `sync_to_async`.

- Connections are made from `connections["default"]` (Django's own connection parameters, so a
  test database is honoured; `connect_timeout` included) and are in autocommit: each statement
  commits on its own unless it runs inside `transaction()`. Their session time zone is Django's
  (UTC) and they load timestamps as Django's connections do.
- A pool belongs to one event loop and is never used from another. It closes when its loop shuts
  down its async generators (asyncio.run, asgiref, uvicorn, pytest-asyncio all do); a loop closed
  without that has its connections closed at the next pool creation.
- psycopg and pool errors surface as django.db.utils errors (a pool timeout is an
  OperationalError), so callers handle them as they handle the ORM's.
- The pool's connections do not see a transaction open on a Django connection: use it only for
  work that stands on its own.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, connections
from django.db import utils as db_utils
from psycopg_pool import AsyncConnectionPool

Connection = psycopg.AsyncConnection
T = TypeVar("T")
Row = tuple[Any, ...]
# Seconds to wait for a pooled connection when DATABASES sets neither a pool timeout nor connect_timeout.
DEFAULT_WAIT = 5.0
# Most specific first, as django.db.utils.DatabaseErrorWrapper maps them.
_DJANGO_ERRORS = (db_utils.DataError, db_utils.OperationalError, db_utils.IntegrityError, db_utils.InternalError,
                  db_utils.ProgrammingError, db_utils.NotSupportedError, db_utils.DatabaseError,
                  db_utils.InterfaceError, db_utils.Error)


def django_error(exc: psycopg.Error) -> db_utils.Error:
    """The django.db.utils error the ORM would raise for psycopg's `exc` (which stays its cause)."""
    for klass in _DJANGO_ERRORS:
        if isinstance(exc, getattr(psycopg, klass.__name__)):
            mapped = klass(*exc.args)
            break
    mapped.__cause__ = exc
    return mapped


@contextmanager
def django_errors() -> Iterator[None]:
    """Raise psycopg's (and the pool's) errors as django.db.utils errors."""
    try:
        yield
    except psycopg.Error as exc:
        raise django_error(exc) from exc


# --- The pools ---

class _LoopPool:
    """The pool of one event loop, and every connection it opened."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.connections: weakref.WeakSet[Connection[Any]] = weakref.WeakSet()
        self.closer: Any = None
        self.opened = False
        wrapper = connections[DEFAULT_DB_ALIAS]
        options = wrapper.settings_dict.get("OPTIONS") or {}
        params = wrapper.get_connection_params()
        # Django's sync cursor class, made async: client-side binding unless OPTIONS asks otherwise.
        params["cursor_factory"] = (psycopg.AsyncCursor if options.get("server_side_binding") is True
                                    else psycopg.AsyncClientCursor)
        params["autocommit"] = True
        self.timezone = wrapper.timezone_name
        self.set_timezone_sql = wrapper.ops.set_time_zone_sql()
        self.isolation = options.get("isolation_level")
        self.role = options.get("assume_role")
        pool_options = options.get("pool") if isinstance(options.get("pool"), dict) else {}
        wait = float(pool_options.get("timeout") or options.get("connect_timeout") or DEFAULT_WAIT)
        # min_size 0: nothing connects before it is needed. A failed connection attempt gives up
        # after `wait` (not the pool's default minutes of retries): the next request tries anew.
        self.pool: AsyncConnectionPool[Connection[Any]] = AsyncConnectionPool(
            kwargs=params, min_size=0, max_size=settings.ASYNC_DB_POOL_SIZE, open=False, timeout=wait,
            reconnect_timeout=wait, configure=self._configure, num_workers=1, name="authsite-async")

    async def _configure(self, conn: Connection[Any]) -> None:
        self.connections.add(conn)
        if self.timezone and conn.info.parameter_status("TimeZone") != self.timezone:
            await conn.execute(self.set_timezone_sql, [self.timezone])
        if self.isolation is not None:
            await conn.set_isolation_level(psycopg.IsolationLevel(self.isolation))
        if self.role:
            await conn.execute(psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(self.role)))

    async def open(self) -> None:
        if self.closer is None:
            self.closer = _close_with_loop(self)
            await self.closer.__anext__()  # its first step registers it with the loop
        await self.pool.open()
        self.opened = True

    async def aclose(self) -> None:
        try:
            await self.pool.close(timeout=1.0)
        except (Exception, asyncio.CancelledError):
            pass  # its tasks were cancelled by the loop's shutdown: the connections close below
        finally:
            self.finish()

    def finish(self) -> None:
        """Close every connection of the pool now, from any thread, even with its loop closed."""
        for conn in list(self.connections):
            if not conn.closed:
                conn.pgconn.finish()

    def retire(self) -> None:
        """Close the pool from its own loop (at once when that loop is closed)."""
        loop = self.loop
        if loop.is_closed():
            self.finish()
            return

        def start() -> None:
            task = loop.create_task(self.aclose())
            _closing.add(task)
            task.add_done_callback(_closing.discard)

        try:
            same_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            start()
            return
        try:
            loop.call_soon_threadsafe(start)
        except RuntimeError:  # closed meanwhile
            self.finish()


async def _close_with_loop(entry: _LoopPool) -> AsyncIterator[None]:
    """Waits at its only `yield` until the loop shuts down its async generators, then closes the pool."""
    try:
        yield
    finally:
        with _lock:
            if _state.pools.get(entry.loop) is entry:
                del _state.pools[entry.loop]
        await entry.aclose()


class _State:
    def __init__(self) -> None:
        self.enabled: bool | None = None
        self.pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}
        self.compiled: dict[str, Any] = {}


_state = _State()
_lock = threading.Lock()
_closing: set[asyncio.Task[None]] = set()


def reset(*, keep_compiled: bool = False) -> None:
    """Forget the settings read (and the SQL compiled, unless `keep_compiled`); close every
    pool, each from its own loop."""
    global _state
    with _lock:
        old, _state = _state, _State()
        if keep_compiled:
            _state.compiled = old.compiled
    for entry in old.pools.values():
        entry.retire()


def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting in ("ASYNC_DB_POOL_SIZE", "DATABASES"):
        # The SQL depends on the database, not on the pool's size.
        reset(keep_compiled=setting == "ASYNC_DB_POOL_SIZE")


setting_changed.connect(_on_setting_changed)


def enabled() -> bool:
    """Whether hot paths use the pool: PostgreSQL, and ASYNC_DB_POOL_SIZE above 0."""
    on = _state.enabled
    if on is None:
        on = _state.enabled = (settings.ASYNC_DB_POOL_SIZE > 0
                               and connections[DEFAULT_DB_ALIAS].vendor == "postgresql")
    return on


async def _loop_pool() -> AsyncConnectionPool[Connection[Any]]:
    loop = asyncio.get_running_loop()
    entry = _state.pools.get(loop)
    if entry is None:
        with _lock:
            for other in [other for other in _state.pools if other.is_closed()]:
                _state.pools.pop(other).finish()  # closed without shutting down its async generators
            entry = _state.pools.get(loop)
            if entry is None:
                entry = _state.pools[loop] = _LoopPool(loop)
    if not entry.opened:
        await entry.open()
    return entry.pool


@asynccontextmanager
async def connection() -> AsyncIterator[Connection[Any]]:
    """A connection of this loop's pool (autocommit), given back when the block ends."""
    with django_errors():
        pool = await _loop_pool()
        async with pool.connection() as conn:
            yield conn


@asynccontextmanager
async def transaction() -> AsyncIterator[Connection[Any]]:
    """A pooled connection inside one transaction: committed when the block ends, rolled back
    when it raises."""
    async with connection() as conn:
        async with conn.transaction():
            yield conn


# --- Statements ---

async def _run(sql: str, params: Sequence[Any], conn: Connection[Any] | None,
               read: Callable[[psycopg.AsyncCursor[Any]], Any]) -> Any:
    # Params are always a sequence, never None: `%%` then means `%`, as in Django's SQL.
    if conn is None:
        async with connection() as conn:
            return await read(await conn.execute(sql, params))
    with django_errors():
        return await read(await conn.execute(sql, params))


async def _rowcount(cursor: psycopg.AsyncCursor[Any]) -> int:
    return cursor.rowcount


async def fetchone(sql: str, params: Sequence[Any] = (), conn: Connection[Any] | None = None) -> Row | None:
    """The first row of `sql`, or None; on `conn`, else on a pooled connection of its own."""
    return await _run(sql, params, conn, lambda cursor: cursor.fetchone())  # type: ignore[no-any-return]


async def fetchall(sql: str, params: Sequence[Any] = (), conn: Connection[Any] | None = None) -> list[Row]:
    """Every row of `sql`."""
    return await _run(sql, params, conn, lambda cursor: cursor.fetchall())  # type: ignore[no-any-return]


async def execute(sql: str, params: Sequence[Any] = (), conn: Connection[Any] | None = None) -> int:
    """Run `sql`; the number of rows it changed."""
    return await _run(sql, params, conn, _rowcount)  # type: ignore[no-any-return]


async def once(name: str, make: Callable[[], T]) -> T:
    """`make()`'s result (SQL compiled from the models), made once per process and kept under `name`."""
    found = _state.compiled.get(name)
    if found is None:
        # Off the loop: compiling may touch Django's sync-only connection state.
        found = _state.compiled[name] = await sync_to_async(make)()
    return found  # type: ignore[no-any-return]
