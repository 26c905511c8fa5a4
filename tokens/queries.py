"""The token reads and writes of the hot paths: the login write, and a refresh-token rotation.

The login write runs on the async pool (authsite.kit.asyncdb) when it is enabled; tokens.services
otherwise runs its ORM twin through `sync_to_async`. A rotation's reads and writes come in two
twins with the same methods: `OrmRotation` (sync, in a transaction.atomic block) and
`PoolRotation` (async, in one pooled transaction); tokens.services drives either with one core.
Tables, columns and filters come from the models and these querysets; values from model
instances built by tokens.services exactly as for the ORM.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet, Subquery

from accounts.models import User
from accounts.queries import login_filter
from authsite.kit import asyncdb, asyncorm
from tokens.models import RefreshToken, Revocation, Session

_EXAMPLE_WHEN = datetime(2000, 1, 2, 3, 4, 5, tzinfo=UTC)
_EXAMPLE_LATER = datetime(2000, 1, 2, 3, 4, 6, tzinfo=UTC)
_EXAMPLE_SESSION = uuid.UUID(int=1)
# What a rotation writes to its session row.
ROTATED_SESSION_FIELDS = ("last_used_at", "expires_at", "ip", "refresh_window_start", "refresh_count")


def _select_list(fields: tuple[Any, ...], link: Any, source: str) -> str:
    # Every value a parameter cast to its column's type, but the link, read from `source`.
    return ", ".join(f"{source}.{asyncorm.quote(link.target_field.column)}" if field is link
                     else asyncorm.typed_placeholder(field) for field in fields)


def _login_statement() -> tuple[str, asyncorm.Compiled, tuple[Any, ...], tuple[Any, ...]]:
    """The SQL of `ainsert_login`, its UPDATE (whose parameters come first), and the fields
    whose values follow: the session's, then the refresh token's."""
    example = {"when": _EXAMPLE_WHEN, "user_id": 1, "password": "expected-hash"}
    update = asyncorm.compile_query(asyncorm.update_query(login_filter(example["user_id"], example["password"]),
                                                        last_login=example["when"]), example)
    user_link, session_link = Session._meta.get_field("user"), RefreshToken._meta.get_field("session")
    session_fields, refresh_fields = asyncorm.insert_fields(Session), asyncorm.insert_fields(RefreshToken)
    q = asyncorm.quote

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
              *asyncorm.insert_values(session, session_fields), *asyncorm.insert_values(refresh, refresh_fields)]
    row = await asyncdb.fetchone(sql, params)
    if row is None:
        return False
    refresh.pk = row[0]
    for obj in (session, refresh):
        obj._state.adding, obj._state.db = False, DEFAULT_DB_ALIAS
    return True


# --- Refresh-token rotation ---

def refresh_with_session(digest: str) -> QuerySet[RefreshToken]:
    """The refresh token with this digest, with its session and the session's user (a rotation
    reads them locked: select_for_update)."""
    return RefreshToken.objects.select_related("session", "session__user").filter(token_hash=digest)


def live_family(family: str) -> QuerySet[Session]:
    """The id of the unrevoked session whose refresh tokens start with `family`."""
    return Session.objects.filter(family=family, revoked_at__isnull=True).values_list("pk", flat=True)


def unused_of(session_id: object) -> QuerySet[RefreshToken]:
    return RefreshToken.objects.filter(session_id=session_id, used_at__isnull=True)


def oldest_used(session_id: object, before: datetime, used_pk: int) -> QuerySet[RefreshToken]:
    """The session's oldest row used before `before`, other than `used_pk`: the one a rotation recycles."""
    oldest = (RefreshToken.objects.filter(session_id=session_id, used_at__lt=before).exclude(pk=used_pk)
              .order_by("used_at").values("pk")[:1])
    return RefreshToken.objects.filter(pk__in=Subquery(oldest))


class OrmRotation:
    """A rotation's reads and writes on the ORM, inside the caller's transaction.atomic() block."""

    def locked_refresh(self, digest: str) -> RefreshToken | None:
        return refresh_with_session(digest).select_for_update().first()

    def live_family_session(self, family: str) -> Any:
        return live_family(family).first()

    def mark_used(self, row: RefreshToken) -> None:
        row.save(update_fields=["used_at"])

    def end_unused(self, session: Session, now: datetime) -> int:
        return unused_of(session.pk).update(used_at=now, expires_at=now)

    def recycle(self, used: RefreshToken, new_row: RefreshToken, now: datetime) -> int:
        return oldest_used(used.session_id, now, used.pk).update(
            token_hash=new_row.token_hash, used_at=None, expires_at=new_row.expires_at, created_at=now)

    def insert(self, new_row: RefreshToken) -> None:
        new_row.save()

    def save_session(self, session: Session) -> None:
        session.save(update_fields=ROTATED_SESSION_FIELDS)


_LOCKED_REFRESH = asyncorm.Query("tokens.locked_refresh",
                                 lambda digest: asyncorm.first_of(refresh_with_session(digest)),
                                 lock=True, digest="0" * 64)
_LIVE_FAMILY = asyncorm.Query("tokens.live_family", lambda family: asyncorm.first_of(live_family(family)),
                              family="f" * 32)
_END_UNUSED = asyncorm.Query(
    "tokens.end_unused",
    lambda session_id, used_at, expires_at: asyncorm.update_query(unused_of(session_id), used_at=used_at,
                                                                  expires_at=expires_at),
    session_id=_EXAMPLE_SESSION, used_at=_EXAMPLE_WHEN, expires_at=_EXAMPLE_LATER)
_RECYCLE = asyncorm.Query(
    "tokens.recycle",
    lambda session_id, before, used_pk, token_hash, expires_at, created_at: asyncorm.update_query(
        oldest_used(session_id, before, used_pk), token_hash=token_hash, used_at=None, expires_at=expires_at,
        created_at=created_at),
    session_id=_EXAMPLE_SESSION, before=_EXAMPLE_WHEN, used_pk=1, token_hash="1" * 64,
    expires_at=_EXAMPLE_LATER, created_at=datetime(2000, 1, 2, 3, 4, 7, tzinfo=UTC))


class PoolRotation:
    """The async twin of `OrmRotation`: the same SQL, on `conn`, inside its `asyncdb.transaction()`."""

    def __init__(self, conn: asyncdb.Connection[Any]) -> None:
        self.conn = conn

    async def locked_refresh(self, digest: str) -> RefreshToken | None:
        return await _LOCKED_REFRESH.first(self.conn, digest=digest)  # type: ignore[no-any-return]

    async def live_family_session(self, family: str) -> Any:
        row = await _LIVE_FAMILY.fetchone(self.conn, family=family)
        return None if row is None else row[0]

    async def mark_used(self, row: RefreshToken) -> None:
        await asyncorm.asave_fields(row, ["used_at"], self.conn)

    async def end_unused(self, session: Session, now: datetime) -> int:
        return await _END_UNUSED.execute(self.conn, session_id=session.pk, used_at=now, expires_at=now)

    async def recycle(self, used: RefreshToken, new_row: RefreshToken, now: datetime) -> int:
        return await _RECYCLE.execute(self.conn, session_id=used.session_id, before=now, used_pk=used.pk,
                                      token_hash=new_row.token_hash, expires_at=new_row.expires_at, created_at=now)

    async def insert(self, new_row: RefreshToken) -> None:
        await asyncorm.ainsert(new_row, self.conn)

    async def save_session(self, session: Session) -> None:
        await asyncorm.asave_fields(session, ROTATED_SESSION_FIELDS, self.conn)


# --- Logout ---

def session_of_refresh(digest: str, user_id: int) -> QuerySet[RefreshToken]:
    """The session id of the refresh token with this digest, if it is `user_id`'s."""
    return RefreshToken.objects.filter(token_hash=digest, session__user_id=user_id).values_list("session_id", flat=True)


_session_of_refresh = asyncorm.Query("tokens.session_of_refresh",
                                     lambda digest, user_id: asyncorm.first_of(session_of_refresh(digest, user_id)),
                                     digest="example-digest", user_id=1)


async def asession_of_refresh(digest: str, user_id: int) -> str | None:
    row = await _session_of_refresh.fetchone(digest=digest, user_id=user_id)
    return None if row is None else str(row[0])


def _revoke_statement() -> str:
    """Revoke the live sessions among an array of ids and journal each one: ONE statement."""
    q = asyncorm.quote
    session, journal = Session._meta, Revocation._meta

    def col(meta: Any, name: str) -> str:
        return q(meta.get_field(name).column)

    return (f"WITH revoked AS (UPDATE {q(session.db_table)} SET {col(session, 'revoked_at')} = %s, "
            f"{col(session, 'revoked_reason')} = %s WHERE {col(session, 'id')} = ANY(%s) "
            f"AND {col(session, 'revoked_at')} IS NULL RETURNING {col(session, 'id')}) "
            f"INSERT INTO {q(journal.db_table)} ({col(journal, 'session_id')}, {col(journal, 'revoked_at')}, "
            f"{col(journal, 'published')}) SELECT {col(session, 'id')}, %s, false FROM revoked "
            f"RETURNING {col(journal, 'id')}, {col(journal, 'session_id')}")


async def arevoke(session_ids: list[str], when: datetime, reason: str) -> list[tuple[int, str]]:
    """Revoke the live sessions among `session_ids` (committed on return); their journal
    entries (sequence number, session id)."""
    sql = await asyncdb.once("tokens.revoke", _revoke_statement)
    ids = [uuid.UUID(str(sid)) for sid in session_ids]
    rows = await asyncdb.fetchall(sql, [when, reason[:32], ids, when])
    return [(seq, str(sid)) for seq, sid in rows]


def _published_statement() -> str:
    q = asyncorm.quote
    journal = Revocation._meta
    published, pk = q(journal.get_field("published").column), q(journal.pk.column)
    return f"UPDATE {q(journal.db_table)} SET {published} = true WHERE {pk} = ANY(%s) AND NOT {published}"


async def amark_published(seqs: list[int]) -> None:
    """Mark these journal entries told to Redis."""
    await asyncdb.execute(await asyncdb.once("tokens.published", _published_statement), [seqs])
