"""The embedded defaults: no DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, DJANGO_SECRET_KEY or
DJANGO_DEBUG. `manage.py migrate`, then `uvicorn --workers 2`, then the whole walk; a logout is
seen by both workers (they share only the SQLite file and the var dir)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.live import ME, Pair, login, on_every_worker, refresh, signup
from tests.support.servers import ROOT, run_uvicorn

UNSET = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "DJANGO_DEBUG")


def embedded_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update({"AUTHSITE_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "authsite.settings",
                "PYTHONUNBUFFERED": "1"})
    return env


@pytest.mark.server
def test_embedded_defaults_serve_the_whole_walk_on_two_workers(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    env = embedded_env(var_dir)
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    # The secret was generated once, privately, into the var dir (not the project folder).
    secret = var_dir / "secret_key"
    assert secret.is_file()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    generated = secret.read_text().strip()
    assert len(generated) >= 50
    assert (var_dir / "authsite.sqlite3").is_file()

    with run_uvicorn(workers=2, env=env, log=tmp_path / "uvicorn.log") as server:
        ready = httpx.get(f"{server}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}

        signup(server, "Embedded@Example.com")
        first = login(server, "embedded@example.com")
        # Both workers accept the token: they derive the same key from the same generated secret.
        on_every_worker(server, 2, ME, first.auth, 200)
        r = refresh(server, first.refresh)
        assert r.status_code == 200, r.text
        second = Pair(r.json()["access_token"], r.json()["refresh_token"])
        me = httpx.get(f"{server}{ME}", headers=second.auth)
        assert me.status_code == 200 and me.json()["email"] == "embedded@example.com"
        on_every_worker(server, 2, ME, second.auth, 200)

        r = httpx.post(f"{server}/api/v1/auth/logout", headers=second.auth)
        assert r.status_code == 204, r.text
        on_every_worker(server, 2, ME, second.auth, 401)
        assert refresh(server, second.refresh).status_code == 401

    # Still the same secret: it is generated once, not per process or per start.
    assert secret.read_text().strip() == generated
