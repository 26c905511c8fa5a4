"""End-to-end: the whole signup → login → me → refresh → logout walk through real uvicorn."""

from __future__ import annotations

import httpx
import pytest

PASSWORD = "correct horse battery staple"


@pytest.mark.server
def test_walkthrough_on_two_workers(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    with live_server_factory(workers=2) as base, httpx.Client(base_url=base) as http:
        r = http.post("/api/v1/auth/signup", json={"email": "Walk@Example.com", "password": PASSWORD})
        assert r.status_code == 201, r.text
        r = http.post("/api/v1/auth/login", json={"email": "walk@example.com", "password": PASSWORD})
        assert r.status_code == 200, r.text
        pair = r.json()
        auth = {"Authorization": f"Bearer {pair['access_token']}"}
        assert http.get("/api/v1/auth/me", headers=auth).json()["email"] == "walk@example.com"
        r = http.post("/api/v1/auth/logout", headers=auth)
        assert r.status_code == 204
        # Forty fresh connections, spread over both workers by the kernel: all refuse the token.
        statuses = {httpx.get(f"{base}/api/v1/auth/me", headers={**auth, "Connection": "close"}).status_code
                    for _ in range(40)}
        assert statuses == {401}
