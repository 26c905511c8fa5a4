"""`make loadtest` runs against a server of its own, in the load-test configuration, and passes."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command

from loadtests import loadtest
from loadtests.stack import request
from tests.support import servers

ROOT = Path(__file__).resolve().parents[2]


def test_the_configuration_changes_only_the_per_ip_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings exported in the calling shell do not leak into the load-test server.
    for name, value in {"THROTTLE_ACCOUNT": "1/1", "DJANGO_DEBUG": "1", "HASH_QUEUE_LIMIT": "0",
                        "DATABASE_URL": "postgres://elsewhere/prod", "AUTHSITE_VAR_DIR": "/srv"}.items():
        monkeypatch.setenv(name, value)
    env = loadtest.server_env(loadtest.parse_args([]), "/tmp/var")
    assert env["THROTTLE_IP"] == "0/0"
    assert not {"THROTTLE_ACCOUNT", "THROTTLE_ACCOUNT_IP", "DJANGO_DEBUG", "HASH_QUEUE_LIMIT"} & set(env)
    assert env["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/authsite_loadtest"
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/14" and env["AUTHSITE_VAR_DIR"] == "/tmp/var"
    assert set(env) <= set(loadtest.PASSED_THROUGH) | {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY",
                                                       "AUTHSITE_VAR_DIR", "PYTHONUNBUFFERED", "THROTTLE_IP"}


def test_the_defaults_are_the_make_targets() -> None:
    args = loadtest.parse_args([])
    command = loadtest.locust_command(args, "http://127.0.0.1:1234", Path("/r"))
    assert command[-1] == "MixedUser" and "--headless" in command
    assert command[command.index("-u") + 1] == "20" and command[command.index("--run-time") + 1] == "60s"
    assert command[command.index("--seed-count") + 1] == "1000"
    assert command[command.index("--host") + 1] == "http://127.0.0.1:1234"


def test_wrong_passwords_from_the_shared_address_lock_nobody_out(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    call_command("seed_users", "--count", "1", "--prefix", "lt-")
    guesses = settings.THROTTLE_IP[0] + 1  # one more than the default per-IP limit allows
    with live_server_factory(workers=1, **loadtest.LOADTEST_SETTINGS) as base:
        wrong = {request(base, "POST", "/api/v1/auth/login", {"email": f"nobody-{i}@example.com",
                                                              "password": "not-the-password-0123"})[0]
                 for i in range(guesses)}
        status, _ = request(base, "POST", "/api/v1/auth/login",
                            {"email": "lt-0@example.com", "password": "load-test-password-0123"})
    assert wrong == {401} and status == 200


def processes_with(text: str) -> list[int]:
    """Processes of this user whose environment contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def own_database() -> Iterator[tuple[str, str]]:
    """A database name of this test run for the load test (dropped afterwards), and its server."""
    server, name = servers.test_database_url().rsplit("/", 1)
    database = f"{name}_loadtest"
    yield server, database
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.mark.server
def test_a_short_load_test_passes_and_stops_what_it_started(tmp_path: Path,
                                                            own_database: tuple[str, str]) -> None:
    server, database = own_database
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.loadtest", "--users", "4", "--spawn-rate", "4", "--run-time", "8s",
         "--seed-users", "20", "--pg", server, "--database", database, "--redis", settings.REDIS_URL,
         "--reports", str(tmp_path), "MixedUser", "LoginUser"],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "load test passed" in result.stdout
    with open(tmp_path / "locust_stats.csv", newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert int(rows["Aggregated"]["Request Count"]) > 20 and int(rows["login"]["Request Count"]) > 0
    assert (tmp_path / "locust.html").exists() and (tmp_path / "loadtest-server.log").exists()
    assert processes_with(f"DATABASE_URL={server}/{database}\0") == []  # server and worker are gone
