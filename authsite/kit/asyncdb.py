"""Async database access without thread hops: a psycopg pool per event loop, and ORM queries
compiled once to SQL.

An ORM call from async code costs a thread hop (`sync_to_async`) and the ORM's own work each
time. Hot paths run their SQL here instead, on a `psycopg_pool.AsyncConnectionPool` of the
running event loop. The SQL comes from the models: a `Query` is an ORM queryset compiled once
per process, and its rows come back as model instances (`Model.from_db`), as the ORM builds them.

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
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, connections
from django.db import utils as db_utils
from django.db.models import CharField, Field, Model, QuerySet
from django.db.models.query import ModelIterable, get_related_populators
from django.db.models.sql import Query as SqlQuery
from django.db.models.sql import UpdateQuery
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


def reset(**kwargs: object) -> None:
    """Forget the settings read and the SQL compiled; close every pool (each from its own loop)."""
    global _state
    with _lock:
        old, _state = _state, _State()
    for entry in old.pools.values():
        entry.retire()


def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting in ("ASYNC_DB_POOL_SIZE", "DATABASES"):
        reset()


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


# --- ORM queries compiled to SQL ---

@dataclass(frozen=True)
class Compiled:
    """The SQL of a query, where each call's values go in it, and how its rows become model
    instances (`model` None: they stay tuples)."""

    sql: str
    # Per SQL parameter: the name of the call's value that fills it, or None and the constant
    # the query itself holds.
    slots: tuple[tuple[str | None, Any], ...]
    model: type[Model] | None = None
    init_list: tuple[str, ...] = ()
    start: int = 0
    end: int = 0
    populators: tuple[Any, ...] = ()
    converters: tuple[tuple[int, tuple[Any, ...], Any], ...] = ()

    def params(self, values: Mapping[str, Any]) -> list[Any]:
        """The SQL's parameters for one call's `values` (by name)."""
        return [values[name] if name is not None else constant for name, constant in self.slots]

    def instances(self, rows: Sequence[Row]) -> list[Model]:
        """Model instances of `rows`, as the ORM's ModelIterable makes them (select_related included)."""
        assert self.model is not None, "the query does not select model instances"
        made = []
        for row in rows:
            if self.converters:
                row = _converted(row, self.converters)
            obj = self.model.from_db(DEFAULT_DB_ALIAS, self.init_list, row[self.start:self.end])
            for populator in self.populators:
                populator.populate(row, obj)
            made.append(obj)
        return made


def _converted(row: Row, converters: tuple[tuple[int, tuple[Any, ...], Any], ...]) -> Row:
    values = list(row)
    connection = connections[DEFAULT_DB_ALIAS]
    for pos, functions, expression in converters:
        for function in functions:
            values[pos] = function(values[pos], expression, connection)
    return tuple(values)


def _slots(params: Sequence[Any], example: Mapping[str, Any], sql: str) -> tuple[tuple[str | None, Any], ...]:
    slots: list[tuple[str | None, Any]] = []
    for param in params:
        names = [name for name, value in example.items() if type(value) is type(param) and value == param]
        if len(names) > 1:
            raise ImproperlyConfigured(f"example values {names} are equal: give each a distinct value")
        slots.append((names[0], None) if names else (None, param))
    missing = set(example) - {name for name, _ in slots}
    if missing:
        raise ImproperlyConfigured(f"example values {sorted(missing)} are not parameters of {sql!r}")
    return tuple(slots)


def compile_query(query: QuerySet[Any] | SqlQuery, example: Mapping[str, Any]) -> Compiled:
    """Compile `query` (a queryset, or an sql.Query such as `update_query(...)`) built from
    `example` values: each SQL parameter equal to one of them is filled by that value's name at
    each call, any other is a constant of the query. Example values must be distinct (and
    unlike the query's constants)."""
    sql_query = query.query if isinstance(query, QuerySet) else query
    compiler = sql_query.get_compiler(DEFAULT_DB_ALIAS)
    sql, params = compiler.as_sql()
    slots = _slots(params, example, sql)
    if not (isinstance(query, QuerySet) and query._iterable_class is ModelIterable):
        return Compiled(sql, slots)
    select, klass_info = compiler.select, compiler.klass_info
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    converters = compiler.get_converters([column for column, _, _ in select])
    return Compiled(sql, slots, klass_info["model"], tuple(col.target.attname for col, _, _ in select[start:end]),
                    start, end, tuple(get_related_populators(klass_info, select, DEFAULT_DB_ALIAS)),
                    tuple((pos, tuple(functions), expression) for pos, (functions, expression) in converters.items()))


async def once(name: str, make: Callable[[], T]) -> T:
    """`make()`'s result (SQL compiled from the models), made once per process and kept under `name`."""
    found = _state.compiled.get(name)
    if found is None:
        # Off the loop: compiling may touch Django's sync-only connection state.
        found = _state.compiled[name] = await sync_to_async(make)()
    return found  # type: ignore[no-any-return]


def update_query(queryset: QuerySet[Any], **values: Any) -> UpdateQuery:
    """The UPDATE that `queryset.update(**values)` runs, as an sql.Query to compile."""
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    return query


def first_of(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """What `queryset.first()` reads: its own order, else by primary key, one row."""
    return (queryset if queryset.ordered else queryset.order_by("pk"))[:1]


class Query:
    """An ORM query run on the pool, compiled once per process and kept under `name`.

    `build(**values)` returns the query for one call's values; it is compiled from the `example`
    values (see `compile_query`), and each call names its values the same way.
    """

    def __init__(self, name: str, build: Callable[..., QuerySet[Any] | SqlQuery], **example: Any) -> None:
        self.name, self.build, self.example = name, build, example

    def compile(self) -> Compiled:
        return compile_query(self.build(**self.example), self.example)

    async def compiled(self) -> Compiled:
        return await once(self.name, self.compile)

    async def first(self, conn: Connection[Any] | None = None, **values: Any) -> Any:
        """The first model instance (None when there is no row)."""
        compiled = await self.compiled()
        row = await fetchone(compiled.sql, compiled.params(values), conn)
        return None if row is None else compiled.instances([row])[0]

    async def all(self, conn: Connection[Any] | None = None, **values: Any) -> list[Any]:
        compiled = await self.compiled()
        return compiled.instances(await fetchall(compiled.sql, compiled.params(values), conn))

    async def fetchone(self, conn: Connection[Any] | None = None, **values: Any) -> Row | None:
        """The first row as a tuple."""
        compiled = await self.compiled()
        return await fetchone(compiled.sql, compiled.params(values), conn)

    async def execute(self, conn: Connection[Any] | None = None, **values: Any) -> int:
        """Run it; the number of rows changed."""
        compiled = await self.compiled()
        return await execute(compiled.sql, compiled.params(values), conn)


# --- Inserts written from model instances ---

def quote(name: str) -> str:
    return connections[DEFAULT_DB_ALIAS].ops.quote_name(name)


def insert_fields(model: type[Model]) -> tuple[Field[Any, Any], ...]:
    """The columns that saving a new `model` instance writes: every local concrete field but an
    automatic primary key and generated fields."""
    meta = model._meta
    return tuple(f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field)


def insert_values(obj: Model, fields: Sequence[Field[Any, Any]]) -> list[Any]:
    """What saving the new `obj` writes to `fields`: its values after `pre_save` (auto_now_add...),
    prepared for the database as the ORM prepares them."""
    connection = connections[DEFAULT_DB_ALIAS]
    values = []
    for field in fields:
        value = field.pre_save(obj, True)
        if hasattr(value, "resolve_expression"):
            raise ValueError(f"{field} holds an expression; only values are written here")
        values.append(field.get_db_prep_save(value, connection=connection))
    return values


def typed_placeholder(field: Field[Any, Any]) -> str:
    """A parameter cast to `field`'s column type, for places where PostgreSQL cannot infer it
    (a SELECT list takes an untyped NULL as text)."""
    connection = connections[DEFAULT_DB_ALIAS]
    # Without the length: a value too long then fails on the column, as through the ORM, instead
    # of being cut by the cast.
    db_type = (connection.ops.cast_char_field_without_max_length if isinstance(field, CharField)
               else field.cast_db_type(connection))
    return f"CAST(%s AS {db_type})"
