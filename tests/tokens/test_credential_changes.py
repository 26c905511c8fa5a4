"""Credential changes and the end of the sessions are one transaction; Redis hears of it only
after the commit, and only a real change ends sessions."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from accounts import passwords
from accounts.models import User
from authsite.kit import stores
from tests.support.client_api import API, PASSWORD, assert_invalid_token, get, jwt_parts, login, pbkdf2_hash
from tokens.models import Revocation, Session

ME = f"{API}/me"

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def _revocation_key(access_token: str) -> str:
    return f"rev:s:{jwt_parts(access_token)[1]['sid']}"


def test_a_deactivation_rolled_back_ends_no_session_and_tells_redis_nothing(api: Client, user: User) -> None:
    pair = login(api, user.email)
    with pytest.raises(Boom), transaction.atomic():
        user.is_active = False
        user.save()
        assert Session.objects.get(user=user).revoked_at is not None  # inside the transaction
        raise Boom()
    assert Session.objects.get(user=user).revoked_at is None
    assert not Revocation.objects.exists()
    client = stores.client()
    if client is not None:
        assert not client.exists(_revocation_key(pair["access_token"]))
    assert get(api, ME, pair["access_token"]).status_code == 200


def test_redis_is_told_when_the_change_commits_not_before(api: Client, user: User) -> None:
    pair = login(api, user.email)
    client = stores.client()
    if client is None:
        pytest.skip("REDIS_URL is not set")
    with transaction.atomic():
        user.set_password("an admin reset password 42")
        user.save()
        assert not client.exists(_revocation_key(pair["access_token"]))
    assert client.exists(_revocation_key(pair["access_token"]))
    assert Revocation.objects.filter(published=True).count() == 1
    assert_invalid_token(get(api, ME, pair["access_token"]))


def test_a_bulk_password_write_ends_the_sessions(api: Client, user: User) -> None:
    pair = login(api, user.email)
    User.objects.filter(pk=user.pk).update(password=passwords.hash_in_pool("a bulk reset password 42"))
    assert_invalid_token(get(api, ME, pair["access_token"]))
    assert Session.objects.get(user=user).revoked_reason == "password_changed"


def test_an_upgraded_hash_saved_by_check_password_ends_no_session(api: Client, user: User) -> None:
    User.objects.filter(pk=user.pk).update(password=pbkdf2_hash(PASSWORD))  # a legacy hash
    pair = login(api, user.email)  # the login upgrades it (compare-and-swap, no session ends)
    User.objects.store_rehash(user.pk, User.objects.get(pk=user.pk).password, pbkdf2_hash(PASSWORD))
    assert get(api, ME, pair["access_token"]).status_code == 200
    user.refresh_from_db()
    # Django's check_password would save the upgraded hash through save(); it is the same
    # password, so the sessions live on.
    assert user.check_password(PASSWORD)
    user.refresh_from_db()
    assert passwords.hash_status(user.password) == "current"
    assert get(api, ME, pair["access_token"]).status_code == 200
    assert Session.objects.get(user=user).revoked_at is None
