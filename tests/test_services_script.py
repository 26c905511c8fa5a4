"""scripts/services.sh (run by `make test` and CI): makes the test database and Redis ready, only
checks when they are, and says the exact install command when it may not install."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "services.sh"
BASH = shutil.which("bash") or "/bin/bash"


def run(env: dict[str, str], *, user: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [BASH, str(SCRIPT)]
    if user is not None:
        command = ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in env.items()), *command]
        env = dict(os.environ)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def server_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"


@pytest.fixture
def new_database_name() -> Iterator[str]:
    name = f"services_probe_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(f"{server_url()}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_creates_the_database_once_and_then_only_checks(new_database_name: str) -> None:
    env = {**os.environ, "DATABASE_URL": f"{server_url()}/{new_database_name}", "REDIS_URL": settings.REDIS_URL}
    first = run(env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"creating database {new_database_name}" in first.stdout
    with psycopg.connect(f"{server_url()}/{new_database_name}") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    again = run(env)
    assert again.returncode == 0, again.stdout + again.stderr
    # Everything runs: nothing installed, started or created the second time.
    assert again.stdout.splitlines() == [f"ready: PostgreSQL {server_url().split('@')[1]}/{new_database_name}, "
                                         f"Redis {settings.REDIS_URL.split('//')[1].split('/')[0]}"]


def test_without_root_it_prints_the_exact_install_command(tmp_path: Path) -> None:
    # A PATH with neither PostgreSQL's nor Redis's programs, for a user who is not root.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(shutil.which("id"), bin_dir / "id")
    tmp_path.chmod(0o755)
    env = {"PATH": str(bin_dir), "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
           "REDIS_URL": "redis://127.0.0.1:6379/9"}
    result = run(env, user="nobody") if os.geteuid() == 0 else run(env)
    assert result.returncode == 1
    assert "sudo apt-get update && sudo apt-get install -y postgresql redis-server" in result.stderr


def test_a_database_elsewhere_is_only_checked() -> None:
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@192.0.2.1:5432/test", "REDIS_URL": settings.REDIS_URL,
           "PGCONNECT_TIMEOUT": "1"}
    result = run(env)
    assert result.returncode == 1
    assert "does not answer" in result.stderr
    assert "installing" not in result.stdout and "starting" not in result.stdout
