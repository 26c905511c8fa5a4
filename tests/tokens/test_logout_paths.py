"""Logout (tokens.services.alogout) on both database paths: the async pool's one statement and the
ORM's revoke the same sessions, journal them, tell Redis, and refuse the tokens afterwards."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connections

from accounts.models import User
from authsite.kit import background, stores
from tests.support.client_api import PASSWORD
from tests.support.dbpaths import db_path  # noqa: F401
from tokens import revocation, services
from tokens.exceptions import InvalidToken
from tokens.models import Revocation, Session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(db_path: str) -> User:
    return User.objects.create_user("alice@example.com", PASSWORD)


def login(user: User) -> services.TokenPair:
    return async_to_sync(services.aissue_pair)(user, "10.0.0.1", "agent")


def claims_of(pair: services.TokenPair) -> services.AccessClaims:
    return async_to_sync(services.aauthenticate_access)(pair.access_token)


def logout(pair: services.TokenPair, refresh_token: str | None = None) -> None:
    async_to_sync(services.alogout)(claims_of(pair), refresh_token)


def refused(pair: services.TokenPair) -> bool:
    services.verified_cache.clear()
    try:
        claims_of(pair)
    except InvalidToken:
        return True
    return False


def test_logout_revokes_journals_and_tells_redis(alice: User) -> None:
    pair, other = login(alice), login(alice)
    logout(pair)
    ended = Session.objects.get(revoked_at__isnull=False)
    assert ended.revoked_reason == "logout"
    (entry,) = Revocation.objects.all()
    assert (str(entry.session_id), entry.revoked_at, entry.published) == (str(ended.pk), ended.revoked_at, True)
    assert stores.client().get(revocation._key(str(ended.pk))) == b"1"  # type: ignore[union-attr]
    assert refused(pair) and not refused(other)


def test_the_callers_refresh_token_ends_its_other_session_too(alice: User) -> None:
    pair, other, kept = login(alice), login(alice), login(alice)
    logout(pair, other.refresh_token)
    assert refused(pair) and refused(other) and not refused(kept)
    assert Revocation.objects.filter(published=True).count() == 2


def test_someone_elses_or_a_hostile_refresh_token_ends_nothing_else(alice: User) -> None:
    bob = User.objects.create_user("bob@example.com", PASSWORD)
    pair, bobs = login(alice), login(bob)
    logout(pair, bobs.refresh_token)
    assert not refused(bobs)
    kept = login(alice)
    for hostile in ("", "x" * 5000, "\u0000\u00e9", kept.refresh_token[:-1]):
        logout(login(alice), hostile)
    assert not refused(kept) and not refused(bobs)
    assert Revocation.objects.count() == 5  # the sessions logged out, each once


def test_a_second_logout_of_the_same_session_journals_nothing_more(alice: User) -> None:
    pair = login(alice)
    claims = claims_of(pair)
    async_to_sync(services.alogout)(claims)
    async_to_sync(services.alogout)(claims)
    assert Revocation.objects.count() == 1


def test_with_redis_unreachable_the_revocation_holds_and_waits_in_the_journal(alice: User, settings) -> None:  # type: ignore[no-untyped-def]
    pair = login(alice)
    claims = claims_of(pair)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    async_to_sync(services.alogout)(claims)
    assert Session.objects.get().revoked_at is not None
    assert Revocation.objects.get().published is False  # a watcher publishes it later
    assert refused(pair)  # the database answers meanwhile


def test_a_logout_whose_client_went_away_still_ends_the_session_and_tells_redis(alice: User) -> None:
    import asyncio

    claims = claims_of(login(alice))

    async def client_gone() -> None:
        request = asyncio.ensure_future(services.alogout(claims))
        for _ in range(3):  # into the database round trips
            await asyncio.sleep(0)
        request.cancel()  # what Django does to a view whose client disconnected
        with pytest.raises(asyncio.CancelledError):
            await request
        published = sync_to_async(Revocation.objects.filter(published=True).exists)
        try:
            for _ in range(500):  # the server's loop goes on; here, wait for the rest of the work
                if not background.running() and await published():
                    return
                await asyncio.sleep(0.01)
        finally:
            await sync_to_async(connections.close_all)()  # the ORM's thread of this loop

    asyncio.run(client_gone())
    assert Session.objects.get().revoked_at is not None
    assert Revocation.objects.get().published is True
    assert stores.client().get(revocation._key(claims.session_id)) == b"1"  # type: ignore[union-attr]


def test_a_revocation_told_to_redis_but_not_marked_is_still_a_successful_logout(alice: User) -> None:
    from django.db import connection

    pair = login(alice)
    with connection.cursor() as cursor:  # the journal refuses to be marked published
        cursor.execute("CREATE FUNCTION refuse_mark() RETURNS trigger AS $$ BEGIN "
                       "RAISE EXCEPTION 'marking refused'; END $$ LANGUAGE plpgsql")
        cursor.execute(f"CREATE TRIGGER refuse_mark BEFORE UPDATE ON {Revocation._meta.db_table} "
                       "FOR EACH ROW EXECUTE FUNCTION refuse_mark()")
    try:
        logout(pair)  # no error reaches the caller
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER refuse_mark ON {Revocation._meta.db_table}")
            cursor.execute("DROP FUNCTION refuse_mark()")
    assert Session.objects.get().revoked_at is not None
    assert Revocation.objects.get().published is False  # a watcher marks it later
    assert refused(pair)
