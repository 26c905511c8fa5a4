"""A revoked token stays revoked, whatever happens to Redis or to the process that revoked it.

Real uvicorn processes on the test PostgreSQL database, each scenario with a private
redis-server: one that evicts under `maxmemory`, one "restored from an older snapshot" (its
keys replaced by a DUMP taken before the revocation, as an RDB/AOF restore or a failover to a
lagging replica would leave it), a server killed with revocations it could not publish, a
session row deleted, and a server killed in the middle of a password change.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from accounts.models import User
from tests.support.private_redis import private_redis
from tests.support import servers
from tests.support.every_worker import bearer, me_everywhere
from tokens.models import Session

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different horse battery staple"
EMAIL = "durable@example.com"
A = "/api/v1/auth"

pytestmark = pytest.mark.server


def login(http: httpx.Client, password: str = PASSWORD) -> dict[str, Any]:
    response = http.post(f"{A}/login", json={"email": EMAIL, "password": password})
    assert response.status_code == 200, response.text
    return response.json()



def sid_of(pair: dict[str, Any]) -> str:
    payload = pair["access_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def soon(check: Callable[[], None], timeout: float = 10.0) -> None:
    """Run `check` until it passes (each server process re-reads the revocation sequence every
    REVOCATION_POLL_SECONDS); re-raise its last failure after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_redis_that_evicts_is_not_trusted_and_revocations_hold(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user(EMAIL, PASSWORD)
    # volatile-lfu with a log factor of 0: the least often read keys with a TTL go first, so a
    # key read on every request stays while a revocation key, written once, is evicted.
    with private_redis("--maxmemory", "4mb", "--maxmemory-policy", "volatile-lfu", "--lfu-log-factor", "0") as rds, \
            live_server_factory(workers=2, REDIS_URL=rds.url, CELERY_BROKER_URL=rds.url) as server, \
            httpx.Client(base_url=server, timeout=30) as http:
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["cache"] == "down", ready.text
        victim, bystander = login(http), login(http)
        me_everywhere(server, victim, 200, minimum=8)
        assert http.post(f"{A}/logout", headers=bearer(victim)).status_code == 204
        # Memory pressure until the revocation key is evicted, while the "set complete" marker,
        # read on every request, stays (if the service keeps one in this Redis at all).
        client = rds.client()
        key = f"rev:s:{sid_of(victim)}"
        had_marker = bool(client.exists("rev:ready"))
        filler = b"x" * 65536
        for i in range(600):
            client.set(f"filler:{i}", filler, ex=3600)
            client.get("rev:ready")
            if not client.exists(key):
                break
        assert not client.exists(key)
        assert client.exists("rev:ready") or not had_marker
        me_everywhere(server, victim, 401, minimum=8)
        me_everywhere(server, bystander, 200, minimum=8)
        # A Redis that stops evicting is used again once /readyz (or the periodic check) sees it.
        client.config_set("maxmemory-policy", "noeviction")
        assert http.get("/readyz").status_code == 200


def test_a_redis_restored_from_an_older_snapshot_does_not_revive_a_revoked_token(  # type: ignore[no-untyped-def]
        live_server_factory) -> None:
    User.objects.create_user(EMAIL, PASSWORD)
    with private_redis() as rds, \
            live_server_factory(workers=2, REDIS_URL=rds.url, CELERY_BROKER_URL=rds.url) as server, \
            httpx.Client(base_url=server, timeout=30) as http:
        victim, bystander = login(http), login(http)
        me_everywhere(server, victim, 200, minimum=8)
        me_everywhere(server, bystander, 200, minimum=8)
        client = rds.client()
        snapshot = {key: (client.dump(key), client.pttl(key)) for key in client.keys("rev:*")}
        assert b"rev:ready" in snapshot  # the "revocation set complete" marker
        assert http.post(f"{A}/logout", headers=bearer(victim)).status_code == 204
        me_everywhere(server, victim, 401, minimum=8)
        # The restore: every key as it was in the snapshot, nothing written since.
        client.flushall()
        for key, (value, ttl) in snapshot.items():
            client.restore(key, max(ttl, 0), value)
        assert client.exists("rev:ready") and not client.exists(f"rev:s:{sid_of(victim)}")
        soon(lambda: me_everywhere(server, victim, 401, minimum=8))
        me_everywhere(server, bystander, 200, minimum=8)


def test_revocations_a_killed_process_could_not_publish_still_reach_the_others(  # type: ignore[no-untyped-def]
        live_server_factory) -> None:
    User.objects.create_user(EMAIL, PASSWORD)
    with private_redis() as rds, \
            live_server_factory(workers=1, REDIS_URL=rds.url, CELERY_BROKER_URL=rds.url) as revoker, \
            live_server_factory(workers=1, REDIS_URL=rds.url, CELERY_BROKER_URL=rds.url) as other, \
            httpx.Client(base_url=revoker, timeout=30) as http:
        victim = login(http)
        me_everywhere(other, victim, 200, workers=1, minimum=8)
        assert rds.client().exists("rev:ready")
        rds.pause()
        try:
            # Redis does not answer: the revocation is committed, Redis is not told.
            assert http.post(f"{A}/logout", headers=bearer(victim)).status_code == 204
            os.killpg(revoker.pid, signal.SIGKILL)
        finally:
            rds.resume()
        soon(lambda: me_everywhere(other, victim, 401, workers=1, minimum=8))


def test_deleting_a_session_row_revokes_it_everywhere(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user(EMAIL, PASSWORD)
    with live_server_factory(workers=2) as server, httpx.Client(base_url=server, timeout=30) as http:
        victim, bystander = login(http), login(http)
        me_everywhere(server, victim, 200, minimum=8)
        Session.objects.filter(pk=sid_of(victim)).delete()
        me_everywhere(server, victim, 401, minimum=8)
        me_everywhere(server, bystander, 200, minimum=8)
        refresh = http.post(f"{A}/refresh", json={"refresh_token": victim["refresh_token"]})
        assert refresh.status_code == 401


def _wait_for_lock_waiter(lock: psycopg.Connection, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = lock.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'").fetchone()
        if row and row[0]:
            return
        time.sleep(0.05)
    raise AssertionError("the password change never reached the sessions")


def test_a_server_killed_during_a_password_change_leaves_no_half_done_change(  # type: ignore[no-untyped-def]
        live_server_factory) -> None:
    user = User.objects.create_user(EMAIL, PASSWORD)
    with live_server_factory(workers=1) as server, httpx.Client(base_url=server, timeout=30) as http:
        old = login(http)
        # Hold the user's session rows: the change stops where it ends the sessions.
        with psycopg.connect(servers.test_database_url(), autocommit=False) as lock:
            lock.execute("SELECT 1 FROM tokens_session WHERE user_id = %s FOR UPDATE", [user.pk])
            done = threading.Event()

            def change() -> None:
                try:
                    http.post(f"{A}/password", headers=bearer(old),
                              json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
                except httpx.HTTPError:
                    pass  # the server dies under it
                done.set()

            threading.Thread(target=change, daemon=True).start()
            with psycopg.connect(servers.test_database_url(), autocommit=True) as watcher:
                _wait_for_lock_waiter(watcher)
            os.killpg(server.pid, signal.SIGKILL)
            lock.rollback()
        assert done.wait(30)
    with live_server_factory(workers=1) as server, httpx.Client(base_url=server, timeout=30) as http:
        # Nothing happened: the old password and the old session both still work...
        status, _, body, _ = server.request("GET", f"{A}/me", headers=bearer(old))
        assert status == 200, body
        login(http, PASSWORD)
        # ...so the user's retry succeeds, and ends the old session.
        retry = http.post(f"{A}/password", headers=bearer(old),
                          json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        assert retry.status_code == 204, retry.text
        me_everywhere(server, old, 401, workers=1, minimum=8)
        login(http, NEW_PASSWORD)
