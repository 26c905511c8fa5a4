"""The token writes of the hot paths on the async pool (authsite.kit.asyncdb).

Callers (tokens.services) use these only when `asyncdb.enabled()`; otherwise they run their ORM
twins through `sync_to_async`. Table and column names come from the models' `_meta`, values from
model instances built by tokens.services exactly as for the ORM.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS

from accounts.models import User
from accounts.queries import login_filter
from authsite.kit import asyncdb
from tokens.models import RefreshToken, Session

_EXAMPLE_WHEN = datetime(2000, 1, 2, 3, 4, 5, tzinfo=UTC)


def _select_list(fields: tuple[Any, ...], link: Any, source: str) -> str:
    # Every value a parameter cast to its column's type, but the link, read from `source`.
    return ", ".join(f"{source}.{asyncdb.quote(link.target_field.column)}" if field is link
                     else asyncdb.typed_placeholder(field) for field in fields)


def _login_statement() -> tuple[str, asyncdb.Compiled, tuple[Any, ...], tuple[Any, ...]]:
    """The SQL of `ainsert_login`, its UPDATE (whose parameters come first), and the fields
    whose values follow: the session's, then the refresh token's."""
    example = {"when": _EXAMPLE_WHEN, "user_id": 1, "password": "expected-hash"}
    update = asyncdb.compile_query(asyncdb.update_query(login_filter(example["user_id"], example["password"]),
                                                        last_login=example["when"]), example)
    user_link, session_link = Session._meta.get_field("user"), RefreshToken._meta.get_field("session")
    session_fields, refresh_fields = asyncdb.insert_fields(Session), asyncdb.insert_fields(RefreshToken)
    q = asyncdb.quote

    def insert(model: Any, fields: tuple[Any, ...], link: Any, source: str) -> str:
        return (f"INSERT INTO {q(model._meta.db_table)} ({', '.join(q(f.column) for f in fields)}) "
                f"SELECT {_select_list(fields, link, source)} FROM {source} RETURNING {q(model._meta.pk.column)}")

    sql = (f"WITH login_user AS ({update.sql} RETURNING {q(User._meta.db_table)}.{q(User._meta.pk.column)}), "
           f"login_session AS ({insert(Session, session_fields, user_link, 'login_user')}), "
           f"login_refresh AS ({insert(RefreshToken, refresh_fields, session_link, 'login_session')}) "
           f"SELECT {q(RefreshToken._meta.pk.column)} FROM login_refresh")
    return (sql, update, tuple(f for f in session_fields if f is not user_link),
            tuple(f for f in refresh_fields if f is not session_link))


async def ainsert_login(session: Session, refresh: RefreshToken, when: datetime, expected_password: str) -> bool:
    """Record a login in ONE statement: set the user's last_login to `when` if the account is
    active and still holds `expected_password` (the compare-and-swap of
    accounts.services.record_login, with its row lock), and only then insert `session` and its
    first `refresh` token. False, with nothing written, when the account changed meanwhile."""
    sql, update, session_fields, refresh_fields = await asyncdb.once("tokens.login", _login_statement)
    params = [*update.params({"when": when, "user_id": session.user_id, "password": expected_password}),
              *asyncdb.insert_values(session, session_fields), *asyncdb.insert_values(refresh, refresh_fields)]
    row = await asyncdb.fetchone(sql, params)
    if row is None:
        return False
    refresh.pk = row[0]
    for obj in (session, refresh):
        obj._state.adding, obj._state.db = False, DEFAULT_DB_ALIAS
    return True
