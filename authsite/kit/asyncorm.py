"""The ORM on the async pool (authsite.kit.asyncdb): querysets compiled once to SQL whose rows
come back as the model instances the ORM would make, and model instances written as `save()`
writes them (without model signals).

The models stay the single source of truth: every table, column, filter and default comes from
them and from Django's own SQL compiler; only the execution moves to the pool.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import CharField, Field, Model, QuerySet
from django.db.models.query import ModelIterable, get_related_populators
from django.db.models.sql import Query as SqlQuery
from django.db.models.sql import UpdateQuery

from authsite.kit.asyncdb import Connection, Row, execute, fetchall, fetchone, once


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
        if values.keys() != self.names:
            raise TypeError(f"the query takes the values {sorted(self.names)}, got {sorted(values)}")
        return [values[name] if name is not None else constant for name, constant in self.slots]

    @property
    def names(self) -> set[str]:
        return {name for name, _ in self.slots if name is not None}

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


def compile_query(query: QuerySet[Any] | SqlQuery, example: Mapping[str, Any], *, lock: bool = False) -> Compiled:
    """Compile `query` (a queryset, or an sql.Query such as `update_query(...)`) built from
    `example` values: each SQL parameter equal to one of them is filled by that value's name at
    each call, any other is a constant of the query. Example values must be distinct (and
    unlike the query's constants).

    With `lock`, the rows read are locked as `select_for_update()` locks them (every table
    joined), to run inside `asyncdb.transaction()`: compiled without it, for Django refuses to
    compile a locking read outside a transaction of its own connection.
    """
    sql_query = query.query if isinstance(query, QuerySet) else query
    compiler = sql_query.get_compiler(DEFAULT_DB_ALIAS)
    sql, params = compiler.as_sql()
    if lock:
        sql = f"{sql} {compiler.connection.ops.for_update_sql()}"
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

    def __init__(self, name: str, build: Callable[..., QuerySet[Any] | SqlQuery], *, lock: bool = False,
                 **example: Any) -> None:
        self.name, self.build, self.lock, self.example = name, build, lock, example

    def compile(self) -> Compiled:
        return compile_query(self.build(**self.example), self.example, lock=self.lock)

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


# --- Model instances written ---

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


@cache
def _insert_sql(model: type[Model]) -> tuple[str, tuple[Field[Any, Any], ...]]:
    fields = insert_fields(model)
    meta = model._meta
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(meta.pk.column)}")
    return sql, fields


async def ainsert(obj: Model, conn: Connection[Any] | None = None) -> None:
    """Insert the new `obj` as `obj.save()` does (an automatic key is numbered by the database
    and set on `obj`). Raises IntegrityError on a constraint violation."""
    sql, fields = _insert_sql(type(obj))
    row = await fetchone(sql, insert_values(obj, fields), conn)
    assert row is not None  # INSERT ... RETURNING returns its row
    if obj._meta.auto_field is not None:
        obj.pk = row[0]
    obj._state.adding, obj._state.db = False, DEFAULT_DB_ALIAS


@cache
def _update_sql(model: type[Model], names: tuple[str, ...]) -> tuple[str, tuple[Field[Any, Any], ...]]:
    meta = model._meta
    fields = tuple(meta.get_field(name) for name in names)
    sql = (f"UPDATE {quote(meta.db_table)} SET {', '.join(f'{quote(f.column)} = %s' for f in fields)} "
           f"WHERE {quote(meta.db_table)}.{quote(meta.pk.column)} = %s")
    return sql, fields


async def asave_fields(obj: Model, names: Sequence[str], conn: Connection[Any] | None = None) -> None:
    """Write `obj`'s fields `names` as `obj.save(update_fields=names)` does."""
    sql, fields = _update_sql(type(obj), tuple(names))
    connection = connections[DEFAULT_DB_ALIAS]
    values = [field.get_db_prep_save(field.pre_save(obj, False), connection=connection) for field in fields]
    values.append(obj._meta.pk.get_db_prep_value(obj.pk, connection))
    if not await execute(sql, values, conn):
        raise DatabaseError("Save with update_fields did not affect any rows.")
