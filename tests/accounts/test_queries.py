"""The account queries of the hot paths (accounts/queries.py) give the same answers on the async
pool and on the ORM: the login lookup, signup, the /me profile row, the hash upgrade."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import IntegrityError
from django.test import Client
from django.utils import timezone

from accounts import passwords, profiles, queries, services
from accounts.exceptions import AccountUnavailable, EmailTaken
from accounts.models import User
from tests.support.client_api import API, PASSWORD, assert_error, login, post_json
from tests.support.dbpaths import db_path, field_values  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(db_path: str) -> User:
    return User.objects.create_user("alice@example.com", PASSWORD)


def orm_user(pk: int) -> User:
    return User.objects.get(pk=pk)


# --- login lookup ---

def test_the_login_lookup_finds_the_user_the_orm_finds(alice: User) -> None:
    found = async_to_sync(queries.afind_user)("alice@example.com")
    assert field_values(found) == field_values(orm_user(alice.pk))
    assert not found._state.adding
    assert async_to_sync(queries.afind_user)("nobody@example.com") is None
    assert async_to_sync(queries.afind_user)("ALICE@example.com") is None  # canonical emails only


def test_a_login_through_the_api_works_and_records_last_login(alice: User, api: Client) -> None:
    pair = login(api, "alice@example.com")
    assert pair["access_token"] and pair["refresh_token"]
    alice.refresh_from_db()
    assert alice.last_login is not None
    assert_error(post_json(api, f"{API}/login", {"email": "alice@example.com", "password": "wrong one, sorry"}),
                 401, "invalid_credentials")


# --- /me ---

def test_the_profile_row_is_read_for_active_users_only(alice: User) -> None:
    loaded = async_to_sync(queries.aactive_user)(alice.pk, profiles.FIELDS)
    assert loaded.get_deferred_fields() == {f.attname for f in User._meta.concrete_fields} - set(profiles.FIELDS)
    assert field_values(loaded) == {name: getattr(orm_user(alice.pk), name) for name in profiles.FIELDS}
    assert field_values(async_to_sync(queries.aactive_user)(alice.pk)) == field_values(orm_user(alice.pk))
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert async_to_sync(queries.aactive_user)(alice.pk, profiles.FIELDS) is None
    with pytest.raises(AccountUnavailable):
        async_to_sync(profiles.aget_profile)(alice.pk)


def test_the_profile_of_me_is_the_same_on_both_paths(alice: User) -> None:
    profile = async_to_sync(profiles.aget_profile)(alice.pk)
    assert profile == profiles.profile_of(orm_user(alice.pk))


# --- signup ---

def test_signup_writes_the_row_the_orm_writes_every_default_included(db_path: str) -> None:
    before = timezone.now()
    created = async_to_sync(queries.acreate_user)("new@example.com", "an-encoded-hash")
    stored = orm_user(created.pk)
    assert field_values(created) == field_values(stored)
    reference = User(email="new@example.com", password="an-encoded-hash")  # the model's defaults
    defaults = {name: value for name, value in field_values(reference).items() if name not in ("id", "date_joined")}
    assert {name: value for name, value in field_values(stored).items() if name in defaults} == defaults
    assert before <= stored.date_joined <= timezone.now()
    assert not created._state.adding


def test_signup_creates_an_account_that_can_log_in(db_path: str, api: Client) -> None:
    response = post_json(api, f"{API}/signup", {"email": " New@Example.com", "password": PASSWORD})
    assert response.status_code == 201, response.content
    assert User.objects.get(email="new@example.com").check_password(PASSWORD)
    assert async_to_sync(queries.aemail_taken)("new@example.com")
    assert not async_to_sync(queries.aemail_taken)("other@example.com")
    login(api, "new@example.com")


def test_a_second_insert_of_an_email_is_an_integrity_error(alice: User) -> None:
    with pytest.raises(IntegrityError):
        async_to_sync(queries.acreate_user)("alice@example.com", "another-hash")
    assert User.objects.count() == 1


def test_a_signup_racing_another_for_the_same_email_gets_email_taken(db_path: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real_ahash = passwords.ahash

    async def ahash_while_the_other_signs_up(password: str) -> str:
        encoded = await real_ahash(password)
        await sync_to_async(User.objects.create_user)("race@example.com", PASSWORD)  # after the "taken?" check
        return encoded

    monkeypatch.setattr(passwords, "ahash", ahash_while_the_other_signs_up)
    with pytest.raises(EmailTaken):
        async_to_sync(services.asignup)("race@example.com", PASSWORD, "10.0.0.1")
    assert User.objects.filter(email="race@example.com").count() == 1


# --- hash upgrade ---

def test_the_hash_upgrade_replaces_the_hash_it_was_computed_for(alice: User) -> None:
    new = passwords.hash_password(PASSWORD)
    assert async_to_sync(queries.astore_rehash)(alice.pk, alice.password, new) is True
    assert orm_user(alice.pk).password == new


def test_the_hash_upgrade_keeps_a_hash_changed_meanwhile(alice: User) -> None:
    changed = passwords.hash_password("a new password of alice")
    User.objects.filter(pk=alice.pk).update(password=changed)
    assert async_to_sync(queries.astore_rehash)(alice.pk, alice.password, "an-upgrade-of-the-old") is False
    assert orm_user(alice.pk).password == changed
    stale = User(pk=alice.pk, password=alice.password)
    async_to_sync(services.astore_upgrade)(stale, "an-upgrade-of-the-old")
    assert stale.password == alice.password  # not taken as stored
