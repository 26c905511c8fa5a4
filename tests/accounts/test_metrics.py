"""Metrics of the accounts app: login and signup outcomes, throttling, the hashing pool, and users
by hash status; token cache counts seen through a login."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from accounts import inventory, passwords
from accounts import metrics as account_metrics
from accounts.exceptions import Overloaded
from accounts.models import User
from tests.support.metrics import value
from tokens import metrics as token_metrics

PASSWORD = "correct horse battery staple"


def signup_and_login(client: Client, email: str) -> dict[str, str]:
    assert client.post("/api/v1/auth/signup", {"email": email, "password": PASSWORD},
                       content_type="application/json").status_code == 201
    r = client.post("/api/v1/auth/login", {"email": email, "password": PASSWORD}, content_type="application/json")
    assert r.status_code == 200, r.content
    return r.json()


@pytest.mark.django_db
def test_login_outcomes_hashing_and_token_cache_are_counted() -> None:
    client = Client()
    before = {o: value(account_metrics.LOGIN_OUTCOMES, outcome=o) for o in ("success", "failure")}
    created = value(account_metrics.SIGNUP_OUTCOMES, outcome="created")
    hashes = value(account_metrics.HASH_SECONDS, operation="hash_password")
    verifies = value(account_metrics.HASH_SECONDS, operation="verify")
    waits = value(account_metrics.HASH_WAIT_SECONDS)
    pair = signup_and_login(client, "counted@example.com")
    r = client.post("/api/v1/auth/login", {"email": "counted@example.com", "password": PASSWORD + "x"},
                    content_type="application/json")
    assert r.status_code == 401
    assert value(account_metrics.SIGNUP_OUTCOMES, outcome="created") == created + 1
    assert value(account_metrics.LOGIN_OUTCOMES, outcome="success") == before["success"] + 1
    assert value(account_metrics.LOGIN_OUTCOMES, outcome="failure") == before["failure"] + 1
    assert value(account_metrics.HASH_SECONDS, operation="hash_password") == hashes + 1
    assert value(account_metrics.HASH_SECONDS, operation="verify") == verifies + 2
    assert value(account_metrics.HASH_WAIT_SECONDS) == waits + 3
    assert value(account_metrics.HASH_POOL_THREADS) == passwords.get_pool().workers
    assert value(account_metrics.HASH_BUSY) == 0 and value(account_metrics.HASH_QUEUED) == 0

    hits, misses, checks = (value(token_metrics.TOKEN_CACHE_HITS), value(token_metrics.TOKEN_CACHE_MISSES),
                            value(token_metrics.SIGNATURE_VERIFICATIONS))
    auth = {"Authorization": f"Bearer {pair['access_token']}"}
    for _ in range(3):
        assert client.get("/api/v1/auth/me", headers=auth).status_code == 200
    assert value(token_metrics.TOKEN_CACHE_MISSES) == misses + 1
    assert value(token_metrics.SIGNATURE_VERIFICATIONS) == checks + 1
    assert value(token_metrics.TOKEN_CACHE_HITS) == hits + 2


@pytest.mark.django_db
def test_throttled_logins_are_counted(settings) -> None:  # type: ignore[no-untyped-def]
    settings.THROTTLE_ACCOUNT_IP = (2, 900)
    client = Client()
    throttled = value(account_metrics.THROTTLED, action="login")
    outcome = value(account_metrics.LOGIN_OUTCOMES, outcome="throttled")
    statuses = [client.post("/api/v1/auth/login", {"email": "nobody@example.com", "password": PASSWORD},
                            content_type="application/json").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert value(account_metrics.THROTTLED, action="login") == throttled + 1
    assert value(account_metrics.LOGIN_OUTCOMES, outcome="throttled") == outcome + 1


def test_hash_pool_gauges_follow_busy_and_queued_jobs_and_refusals_are_counted() -> None:
    pool = passwords.HashPool(workers=1, queue_limit=1)
    release = threading.Event()
    running = threading.Event()
    busy, queued, refused = value(account_metrics.HASH_BUSY), value(account_metrics.HASH_QUEUED), value(account_metrics.HASH_REFUSALS)

    def block() -> None:
        running.set()
        release.wait(10)

    try:
        first = pool.submit(block)
        assert running.wait(5)
        second = pool.submit(block)
        assert value(account_metrics.HASH_BUSY) == busy + 1
        assert value(account_metrics.HASH_QUEUED) == queued + 1
        with pytest.raises(Overloaded):
            pool.submit(block)
        assert value(account_metrics.HASH_REFUSALS) == refused + 1
        release.set()
        first.result(5), second.result(5)
        assert value(account_metrics.HASH_BUSY) == busy and value(account_metrics.HASH_QUEUED) == queued
    finally:
        release.set()
        pool.shutdown()


@pytest.mark.django_db
def test_users_by_hash_status_gauge_counts_each_kind() -> None:
    User.objects.create(email="current@example.com", password=make_password(PASSWORD))
    User.objects.create(email="old-argon@example.com",
                        password="argon2$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
    User.objects.create(email="md5@example.com", password=make_password(PASSWORD, hasher="md5"))
    User.objects.create(email="none@example.com", password=make_password(None))
    User.objects.create(email="wrapped@example.com", password=passwords.wrap(make_password(PASSWORD, hasher="md5")))
    User.objects.create(email="huge@example.com", password="pbkdf2_sha256$2000000000$salt$aGFzaA==")
    counts = inventory.refresh_users_gauge()
    assert counts == {"current": 1, "outdated": 1, "weak": 1, "wrapped": 1, "beyond_limits": 1, "unusable": 1}
    assert value(account_metrics.USERS_BY_HASH_STATUS, hash_status="weak") == 1
    assert "authsite_users{hash_status=\"weak\"}" in Client().get("/metrics").content.decode()
