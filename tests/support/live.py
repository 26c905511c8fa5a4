"""Small HTTP helpers for end-to-end tests against a LiveServer (real uvicorn processes)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.servers import LiveServer

PASSWORD = "correct horse battery staple"
ME = "/api/v1/auth/me"


@dataclass(frozen=True)
class Pair:
    access: str
    refresh: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def signup(base: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    r = httpx.post(f"{base}/api/v1/auth/signup", json={"email": email, "password": password}, timeout=60)
    assert r.status_code == 201, r.text
    return r.json()


def login(base: str, email: str, password: str = PASSWORD) -> Pair:
    r = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": password}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    return Pair(body["access_token"], body["refresh_token"])


def refresh(base: str, refresh_token: str) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/auth/refresh", json={"refresh_token": refresh_token}, timeout=30)


def on_every_worker(server: LiveServer, workers: int, path: str, headers: dict[str, str], expect: int,
                    *, minimum: int = 20, maximum: int = 400) -> Counter[int]:
    """GET `path` over new connections until each of `workers` server processes has answered
    (and at least `minimum` requests were sent); every answer must have status `expect`.

    Returns how many requests each process served: proof that every worker was reached.
    """
    served: Counter[int] = Counter()
    for sent in range(1, maximum + 1):
        status, resp_headers, body, pid = server.request("GET", path, headers=headers)
        assert status == expect, (status, body, pid)
        if expect == 401:
            assert json.loads(body)["error"] == "invalid_token"
            assert resp_headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert pid is not None, "could not tell which process served the request"
        served[pid] += 1
        if len(served) >= workers and sent >= minimum:
            break
    assert len(served) == workers, f"only {len(served)} of {workers} workers reached: {dict(served)}"
    assert set(served) <= server.processes()
    return served
