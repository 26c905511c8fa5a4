"""Asking every worker process of a live server (tests.support.servers) the same question."""

from __future__ import annotations

from typing import Any

from tests.support.servers import LiveServer

ME = "/api/v1/auth/me"


def bearer(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def me_everywhere(server: LiveServer, pair: dict[str, Any], expect: int, *, workers: int = 2,
                  minimum: int = 12) -> None:
    """GET /me over new connections until every worker process answered (and at least `minimum`
    requests were sent); every answer is `expect`, a 401 in the contract's invalid-token shape."""
    pids: set[int | None] = set()
    for sent in range(1, 200):
        status, headers, body, pid = server.request("GET", ME, headers=bearer(pair))
        assert status == expect, (status, body[:200], pid)
        if expect == 401:
            assert b'"invalid_token"' in body and headers["www-authenticate"] == 'Bearer error="invalid_token"'
        pids.add(pid)
        if sent >= minimum and len(pids - {None}) >= workers:
            return
    raise AssertionError(f"only reached processes {pids}")
