"""Faults with the real servers: Redis stopped, restarted and flushed; PostgreSQL
restarted while requests flow. Uses private redis-server / PostgreSQL instances on free ports
(tests.support.private_*): the machine's shared ones are never stopped or flushed."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from accounts.models import User
from tests.support.private_postgres import private_postgres
from tests.support.private_redis import private_redis
from tests.support.every_worker import bearer, me_everywhere
from tests.support.servers import run_uvicorn, server_env

PASSWORD = "correct horse battery staple"
EMAIL = "faults@example.com"
A = "/api/v1/auth"


def login(http: httpx.Client, email: str = EMAIL) -> dict[str, Any]:
    response = http.post(f"{A}/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()



def wait_ready(http: httpx.Client, timeout: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = http.get("/readyz")
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


@pytest.mark.server
def test_service_and_revocations_hold_while_redis_is_stopped_restarted_and_flushed(  # type: ignore[no-untyped-def]
        live_server_factory) -> None:
    User.objects.create_user(EMAIL, PASSWORD)
    # REFRESH_RETRY_GRACE=0: presenting a just-rotated refresh token again is reuse at once.
    with private_redis() as rds, \
            live_server_factory(workers=2, REDIS_URL=rds.url, CELERY_BROKER_URL=rds.url,
                                REFRESH_RETRY_GRACE="0") as server, \
            httpx.Client(base_url=server, timeout=30) as http:
        pairs = [login(http) for _ in range(6)]
        assert http.post(f"{A}/logout", headers=bearer(pairs[0])).status_code == 204
        assert rds.client().exists("rev:ready") or rds.client().keys("rev:s:*")  # Redis really in use
        me_everywhere(server, pairs[0], 401)
        me_everywhere(server, pairs[1], 200)
        assert wait_ready(http).status_code == 200

        # --- Redis stopped ---
        rds.stop()
        response = http.get("/readyz")
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error"] == "unavailable" and "cache" in body["message"], body
        assert body["checks"]["cache"] == "down" and body["checks"]["database"] == "ok", body
        assert response.headers["Retry-After"]
        # Revoked before the outage: still rejected, by every worker, from the database.
        me_everywhere(server, pairs[0], 401)
        # Logins, /me and refresh keep working from the database.
        during = login(http)
        me_everywhere(server, during, 200)
        me_everywhere(server, pairs[1], 200)
        response = http.post(f"{A}/refresh", json={"refresh_token": pairs[2]["refresh_token"]})
        assert response.status_code == 200, response.text
        rotated = response.json()
        me_everywhere(server, rotated, 200)
        # Rotation still detects reuse without Redis: the whole family dies.
        assert http.post(f"{A}/refresh", json={"refresh_token": pairs[2]["refresh_token"]}).status_code == 401
        me_everywhere(server, rotated, 401)
        # Revoked during the outage: rejected at once by every worker.
        assert http.post(f"{A}/logout", headers=bearer(pairs[3])).status_code == 204
        me_everywhere(server, pairs[3], 401)
        assert http.delete(f"{A}/sessions/{_session_id(http, pairs[5])}", headers=bearer(pairs[1])).status_code == 204
        me_everywhere(server, pairs[5], 401)

        # --- Redis back on the same port (empty): normal service, no uvicorn restart ---
        rds.start()
        response = wait_ready(http)
        assert response.status_code == 200, response.text
        for revoked in (pairs[0], pairs[3], pairs[5], rotated):
            me_everywhere(server, revoked, 401)
        for live in (pairs[1], during):
            me_everywhere(server, live, 200)
        # Redis is used again: the revocation set was reloaded from the database.
        deadline = time.monotonic() + 10
        while not rds.client().exists("rev:ready") and time.monotonic() < deadline:
            me_everywhere(server, pairs[1], 200, minimum=2)
        assert rds.client().exists("rev:ready")
        assert rds.client().exists(f"rev:s:{_sid_of(pairs[3])}")  # revoked while Redis was down

        # --- Redis flushed: revocations come back from the database ---
        assert http.post(f"{A}/logout", headers=bearer(pairs[4])).status_code == 204
        me_everywhere(server, pairs[4], 401)
        rds.flushall()
        for revoked in (pairs[0], pairs[3], pairs[4], pairs[5], rotated):
            me_everywhere(server, revoked, 401)
        me_everywhere(server, pairs[1], 200)
        assert http.post(f"{A}/refresh", json={"refresh_token": pairs[4]["refresh_token"]}).status_code == 401


def until_not_503(send: Any, timeout: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = send()
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def _sid_of(pair: dict[str, Any]) -> str:
    import base64
    import json

    payload = pair["access_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def _session_id(http: httpx.Client, pair: dict[str, Any]) -> str:
    sid = _sid_of(pair)
    assert sid in {s["id"] for s in http.get(f"{A}/sessions", headers=bearer(pair)).json()["sessions"]}
    return sid


@pytest.mark.server
def test_a_postgres_restart_gives_503s_then_recovers_losing_no_refresh_token() -> None:
    down_for = 7.0  # longer than the pool's 5 s wait for a connection: requests must give up
    with private_postgres() as pg:
        # THROTTLE_REFRESH off: the refresh loop below refreshes far more often than a client would.
        env = server_env(DATABASE_URL=pg.url, THROTTLE_REFRESH="0/0")
        pg.migrate(env)
        with run_uvicorn(workers=2, env=env) as server, httpx.Client(base_url=server, timeout=30) as http:
            assert http.post(f"{A}/signup", json={"email": EMAIL, "password": PASSWORD}).status_code == 201
            pair = login(http)
            stop = threading.Event()
            me_results: list[tuple[float, Any]] = []
            refresh_results: list[tuple[float, Any]] = []
            state = {"refresh": pair["refresh_token"], "access": pair["access_token"]}

            def me_loop() -> None:
                with httpx.Client(base_url=server, timeout=30) as client:
                    while not stop.is_set():
                        try:
                            r = client.get(f"{A}/me", headers={"Authorization": f"Bearer {pair['access_token']}",
                                                               "Connection": "close"})
                            me_results.append((time.monotonic(), (r.status_code, r.headers.get("Retry-After"),
                                                                  r.json())))
                        except (httpx.TransportError, ValueError) as exc:
                            me_results.append((time.monotonic(), ("dropped", repr(exc))))
                        time.sleep(0.02)

            def refresh_loop() -> None:
                with httpx.Client(base_url=server, timeout=30) as client:
                    while not stop.is_set():
                        token = state["refresh"]
                        try:
                            r = client.post(f"{A}/refresh", json={"refresh_token": token})
                        except httpx.TransportError as exc:
                            refresh_results.append((time.monotonic(), ("dropped", repr(exc))))
                            continue
                        refresh_results.append((time.monotonic(), (r.status_code, r.json().get("error"))))
                        if r.status_code == 200:
                            state["refresh"] = r.json()["refresh_token"]
                            state["access"] = r.json()["access_token"]
                        elif r.status_code != 503:
                            return  # the chain is broken: reported below
                        time.sleep(0.05)

            threads = [threading.Thread(target=me_loop), threading.Thread(target=refresh_loop)]
            for thread in threads:
                thread.start()
            try:
                time.sleep(1.0)
                stopped_at = time.monotonic()
                pg.stop()
                time.sleep(down_for)
                pg.start()
                started_at = time.monotonic()
                # The service recovers by itself, without a restart of uvicorn. Each pooled
                # connection that died with the server fails once (a 503) before the pool drops it.
                deadline = started_at + 30
                recovered = False
                while time.monotonic() < deadline:
                    recent_me = [r for t, r in me_results[-20:] if t > started_at]
                    recent_refresh = [r for t, r in refresh_results[-10:] if t > started_at]
                    if (len(recent_me) == 20 and len(recent_refresh) == 10
                            and all(r[0] == 200 for r in recent_me + recent_refresh)):
                        recovered = True
                        break
                    time.sleep(0.2)
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=60)

            me_statuses = Counter(r[0] for _, r in me_results)
            refresh_statuses = Counter(r[0] for _, r in refresh_results)
            assert set(me_statuses) <= {200, 503}, (me_statuses, [r for _, r in me_results if r[0] not in (200, 503)][:3])
            assert set(refresh_statuses) <= {200, 503}, (refresh_statuses, refresh_results[-3:])
            # The gap was really hit: refresh needs the database and got a clean, retryable 503.
            # /me kept answering through it (revocation and profile come from Redis), and any
            # 503 it did give is the clean one.
            refresh_gap = [r for t, r in refresh_results if stopped_at < t < started_at + 1]
            assert any(r[0] == 503 for r in refresh_gap), refresh_statuses
            me_gap = [r for t, r in me_results if stopped_at < t < started_at]
            assert me_gap, "no /me answer during the outage"
            for status, retry_after, body in (r for _, r in me_results if r[0] == 503):
                assert retry_after and body["error"] == "unavailable", body
            # Recovered: the last answers are all 200, for both loops.
            assert recovered, (me_results[-5:], refresh_results[-5:])
            response = until_not_503(lambda: http.get(f"{A}/me", headers={"Authorization": f"Bearer {state['access']}"}))
            assert response.status_code == 200, response.text
            assert wait_ready(http).status_code == 200

            # Never both halves: in every session exactly one refresh token is unused, the only
            # used one kept is the last rotated (reuse detection needs no more), and the one we
            # hold is that unused one.
            with pg.connect() as conn:
                rows = conn.execute(
                    "SELECT session_id, count(*) FILTER (WHERE used_at IS NULL), count(*) "
                    "FROM tokens_refreshtoken GROUP BY session_id").fetchall()
                revoked = conn.execute("SELECT count(*) FROM tokens_session WHERE revoked_at IS NOT NULL").fetchone()
            assert revoked == (0,)
            for session_id, unused, total in rows:
                assert unused == 1, (session_id, unused, total)
            assert refresh_statuses[200] >= 2
            assert sum(total for _, _, total in rows) == 2
            # The token we hold is the live one (a 503 on a stale pooled connection leaves it valid).
            response = until_not_503(lambda: http.post(f"{A}/refresh", json={"refresh_token": state["refresh"]}))
            assert response.status_code == 200, response.text


@pytest.mark.server
def test_a_revocation_made_while_redis_is_frozen_reaches_every_worker(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    """Redis frozen (not restarted): it comes back WITH its old "revocation set complete" marker,
    so a revocation made meanwhile must still reach every worker."""
    User.objects.create_user(EMAIL, PASSWORD)
    with private_redis() as rds, \
            live_server_factory(workers=2, REDIS_URL=rds.url, CELERY_BROKER_URL=rds.url) as server, \
            httpx.Client(base_url=server, timeout=30) as http:
        victim, bystander = login(http), login(http)
        me_everywhere(server, victim, 200)
        assert rds.client().exists("rev:ready")
        rds.pause()
        try:
            # Only the worker that serves this logout sees the outage.
            assert http.post(f"{A}/logout", headers=bearer(victim)).status_code == 204
        finally:
            rds.resume()
        assert rds.client().exists("rev:ready")  # the stale marker survived
        # The revoking worker writes its pending revocation as soon as Redis answers again.
        sid = _sid_of(victim)
        deadline = time.monotonic() + 5
        while not rds.client().exists(f"rev:s:{sid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rds.client().exists(f"rev:s:{sid}")
        me_everywhere(server, victim, 401)
        me_everywhere(server, bystander, 200)
