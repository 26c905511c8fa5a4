"""End-to-end: the whole signup → login → me → refresh → logout walk through real uvicorn, and
concurrent use of one refresh token, on PostgreSQL + Redis."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.support.live import ME, PASSWORD, Pair, login, on_every_worker, refresh

ROUNDS = 5


@pytest.mark.server
def test_signup_login_me_refresh_logout_walk_on_two_workers(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    with live_server_factory(workers=2) as server, httpx.Client(base_url=server) as http:
        r = http.post("/api/v1/auth/signup", json={"email": "Walk@Example.com", "password": PASSWORD})
        assert r.status_code == 201, r.text
        assert r.json()["email"] == "walk@example.com"
        r = http.post("/api/v1/auth/login", json={"email": " WALK@example.com ", "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert r.headers["Cache-Control"] == "no-store"
        first = Pair(r.json()["access_token"], r.json()["refresh_token"])
        me = http.get(ME, headers=first.auth)
        assert me.status_code == 200 and me.json()["email"] == "walk@example.com"

        r = refresh(server, first.refresh)
        assert r.status_code == 200, r.text
        second = Pair(r.json()["access_token"], r.json()["refresh_token"])
        assert second.refresh != first.refresh
        # Both workers take the rotated access token.
        on_every_worker(server, 2, ME, second.auth, 200)

        r = http.post("/api/v1/auth/logout", headers=second.auth, json={"refresh_token": second.refresh})
        assert r.status_code == 204 and r.content == b""
        # Fresh connections, spread over both workers by the kernel: all refuse the token.
        on_every_worker(server, 2, ME, second.auth, 401)
        assert refresh(server, second.refresh).status_code == 401


@pytest.mark.server
def test_concurrent_refreshes_with_one_token_exactly_one_wins(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    # REFRESH_RETRY_GRACE=0: the second use is reuse, not a retry of a lost answer (that case:
    # tests/e2e/test_refresh_rules.py).
    with live_server_factory(workers=2, REFRESH_RETRY_GRACE="0") as server:
        httpx.post(f"{server}/api/v1/auth/signup", json={"email": "race@example.com", "password": PASSWORD})
        for _ in range(ROUNDS):
            pair = login(server, "race@example.com")
            barrier = threading.Barrier(2)
            answers: list[httpx.Response] = []
            lock = threading.Lock()

            def use(token: str = pair.refresh) -> None:
                with httpx.Client(base_url=server, timeout=30) as client:  # its own connection
                    barrier.wait()
                    r = client.post("/api/v1/auth/refresh", json={"refresh_token": token})
                with lock:
                    answers.append(r)

            threads = [threading.Thread(target=use) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert sorted(r.status_code for r in answers) == [200, 401], [r.text for r in answers]
            winner = next(r for r in answers if r.status_code == 200)
            loser = next(r for r in answers if r.status_code == 401)
            assert loser.json()["error"] == "invalid_token"
            # The loser presented a used token: that is reuse, and the whole family is revoked,
            # including what the winner just received.
            won = Pair(winner.json()["access_token"], winner.json()["refresh_token"])
            assert httpx.get(f"{server}{ME}", headers=won.auth).status_code == 401
            assert refresh(server, won.refresh).status_code == 401
