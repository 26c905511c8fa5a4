"""Revocation across worker processes: uvicorn --workers 2 on PostgreSQL + Redis.

Every scenario first warms the verified-token cache of BOTH workers (each of them answers 200
for the token, which proves it verified and cached it), revokes through one request, then
sends /me over new connections until both workers have answered: every answer is 401.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.support.live import ME, PASSWORD, Pair, login, on_every_worker, refresh, signup
from tests.support.servers import LiveServer

WORKERS = 2
NEW_PASSWORD = "a different horse battery staple"


def _warm(server: LiveServer, *pairs: Pair) -> None:
    for pair in pairs:
        on_every_worker(server, WORKERS, ME, pair.auth, 200)


def _logout(server: LiveServer, email: str) -> tuple[list[Pair], list[Pair]]:
    a = login(server, email)
    _warm(server, a)
    r = httpx.post(f"{server}/api/v1/auth/logout", headers=a.auth, json={"refresh_token": a.refresh})
    assert r.status_code == 204, r.text
    return [a], []


def _logout_all(server: LiveServer, email: str) -> tuple[list[Pair], list[Pair]]:
    a, b = login(server, email), login(server, email)
    _warm(server, a, b)
    r = httpx.post(f"{server}/api/v1/auth/logout-all", headers=a.auth)
    assert r.status_code == 204, r.text
    return [a, b], []


def _password_change(server: LiveServer, email: str) -> tuple[list[Pair], list[Pair]]:
    a, b = login(server, email), login(server, email)
    _warm(server, a, b)
    r = httpx.post(f"{server}/api/v1/auth/password", headers=a.auth,
                   json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, timeout=30)
    assert r.status_code == 204, r.text
    old = httpx.post(f"{server}/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert old.status_code == 401
    fresh = login(server, email, NEW_PASSWORD)
    return [a, b], [fresh]


def _refresh_reuse(server: LiveServer, email: str) -> tuple[list[Pair], list[Pair]]:
    first = login(server, email)
    r = refresh(server, first.refresh)
    assert r.status_code == 200, r.text
    second = Pair(r.json()["access_token"], r.json()["refresh_token"])
    _warm(server, first, second)
    reused = refresh(server, first.refresh)
    assert reused.status_code == 401 and reused.json()["error"] == "invalid_token"
    return [first, second], []


def _delete_session(server: LiveServer, email: str) -> tuple[list[Pair], list[Pair]]:
    a, b = login(server, email), login(server, email)
    _warm(server, a, b)
    listing = httpx.get(f"{server}/api/v1/auth/sessions", headers=a.auth).json()["sessions"]
    others = [s["id"] for s in listing if not s["current"]]
    assert len(listing) == 2 and len(others) == 1
    r = httpx.delete(f"{server}/api/v1/auth/sessions/{others[0]}", headers=a.auth)
    assert r.status_code == 204, r.text
    return [b], [a]


Scenario = Callable[[LiveServer, str], tuple[list[Pair], list[Pair]]]


@pytest.mark.server
@pytest.mark.parametrize("scenario", [_logout, _logout_all, _password_change, _refresh_reuse, _delete_session],
                         ids=["logout", "logout-all", "password-change", "refresh-reuse", "delete-session"])
def test_revocation_is_seen_by_every_worker(live_server_factory, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    # REFRESH_RETRY_GRACE=0: presenting a just-rotated refresh token again is reuse at once.
    with live_server_factory(workers=WORKERS, REFRESH_RETRY_GRACE="0") as server:
        email = f"{scenario.__name__.strip('_').replace('_', '-')}@example.com"
        signup(server, email)
        revoked, alive = scenario(server, email)
        for pair in revoked:
            on_every_worker(server, WORKERS, ME, pair.auth, 401)
            r = refresh(server, pair.refresh)
            assert r.status_code == 401 and r.json()["error"] == "invalid_token", r.text
        # Revocation is scoped: the sessions it should not touch still work on every worker.
        for pair in alive:
            on_every_worker(server, WORKERS, ME, pair.auth, 200)
