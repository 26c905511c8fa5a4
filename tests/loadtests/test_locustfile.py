"""The Locust profiles really run: a short headless run against a live server has no failures."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command

from loadtests.targets import is_loopback

ROOT = Path(__file__).resolve().parents[2]


def test_only_loopback_hosts_are_accepted() -> None:
    assert is_loopback("http://127.0.0.1:8000") and is_loopback("http://localhost:8000")
    assert is_loopback("http://[::1]:8000")
    assert not is_loopback("http://10.0.0.5:8000") and not is_loopback("https://example.com")
    assert not is_loopback(None)


def locust(host: str, out: Path, *classes: str, run_time: str = "6s", users: int = 4) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", "loadtests/locustfile.py", "--headless", "-u", str(users),
         "-r", str(users), "--run-time", run_time, "--host", host, "--csv", str(out), "--only-summary",
         "--seed-prefix", "locust-", "--seed-count", "5", "--stop-timeout", "2", *classes],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def test_every_user_class_runs_without_failures(live_server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    call_command("seed_users", "--count", "5", "--prefix", "locust-")
    with live_server_factory(workers=1, THROTTLE_IP="0/0", THROTTLE_ACCOUNT_IP="0/0", THROTTLE_ACCOUNT="0/0",
                             HASH_QUEUE_LIMIT="64") as base:
        result = locust(base, tmp_path / "run", "SignupStorm", "LoginUser", "BrowsingUser", "MixedUser")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run_stats.csv", newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    total = rows.pop("Aggregated")
    assert int(total["Failure Count"]) == 0, (tmp_path / "run_failures.csv").read_text()
    assert int(total["Request Count"]) > 20
    for name in ("signup", "login", "me"):
        assert int(rows[name]["Request Count"]) > 0, name


def test_a_non_loopback_host_is_refused(tmp_path: Path) -> None:
    result = locust("http://192.0.2.10:8000", tmp_path / "refused", "LoginUser", run_time="2s", users=1)
    assert result.returncode != 0
    assert "loopback only" in result.stderr + result.stdout


def test_expected_wrong_password_answers_are_not_failures(live_server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    call_command("seed_users", "--count", "5", "--prefix", "locust-")
    # Default account limits: the first guesses on each account are 401, later ones 429.
    with live_server_factory(workers=1, THROTTLE_IP="0/0") as base:
        result = locust(base, tmp_path / "wrong", "MixedUser", "--tags", "failure")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "wrong_stats.csv", newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    assert int(rows["login (wrong password)"]["Request Count"]) > 5
    assert int(rows["Aggregated"]["Failure Count"]) == 0
