"""Migrating users end to end, with real processes: `manage.py import_users` (through Celery
workers on the bulk queue), logins over HTTP on uvicorn, `rehash_passwords --wrap --wait`, a
worker killed mid-job, and what the broker carries.

Argon2 runs at cheap parameters in every process here: none of this depends on its cost.
"""

from __future__ import annotations

import base64
import csv
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings
from django.test import override_settings

from accounts import hashformats, passwords, wrapping
from accounts.job_models import Job, JobBatch
from accounts.models import User
from tests.support.legacy import FORMATS, PASSWORDS, hostile_hashes
from tests.support.servers import ROOT, server_env
from tests.support.workers import celery_worker

pytestmark = pytest.mark.server

CHEAP = {"ARGON2_MEMORY_COST": "1024", "ARGON2_TIME_COST": "1", "ARGON2_PARALLELISM": "1"}
NO_THROTTLE = {"THROTTLE_ACCOUNT_IP": "0/0", "THROTTLE_ACCOUNT": "0/0", "THROTTLE_IP": "0/0"}


@pytest.fixture
def cheap(transactional_db: None) -> Iterator[dict[str, str]]:
    """The environment of every process of the test, and the same costs in this one."""
    with override_settings(**{key: int(value) for key, value in CHEAP.items()}):
        yield server_env(**CHEAP, **NO_THROTTLE)


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def login_status(base: str, email: str, password: str) -> int:
    return httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": password},
                      timeout=60).status_code


def inventory_totals(output: str) -> dict[str, int]:
    line = [text for text in output.splitlines() if text.startswith("total ")][-1]
    return {part.rsplit(" ", 1)[0]: int(part.rsplit(" ", 1)[1]) for part in line.split(": ", 1)[1].split(", ")}


def weak_users(n: int, names: tuple[str, ...] = ("django_md5", "hex_sha1", "django_unsalted_md5")) -> dict[str, str]:
    """n users with weak hashes, straight into the table (as an earlier import left them)."""
    users = {}
    rows = []
    for i in range(n):
        email, password = f"weak{i}@example.com", f"{PASSWORDS[i % len(PASSWORDS)]} {i}"
        rows.append(User(email=email, password=passwords.importable(FORMATS[names[i % len(names)]][0](password))))
        users[email] = password
    User.objects.bulk_create(rows, batch_size=1000)
    return users


def test_imported_users_of_every_format_log_in_over_http(cheap: dict[str, str], live_server_factory,  # type: ignore[no-untyped-def]
                                                         tmp_path: Path) -> None:
    users: dict[str, tuple[str, str]] = {}
    lines = []
    for name, (make, _) in FORMATS.items():
        for i, password in enumerate(PASSWORDS):
            email = f"{name}.{i}@Example.COM"
            users[email.lower()] = (name, password)
            lines.append({"email": email, "password_hash": make(password), "is_active": True})
    hostile = hostile_hashes()
    lines += [{"email": "argon2@example.com", "password_hash": hostile["argon2 memory"][0]},
              {"email": "bcrypt@example.com", "password_hash": hostile["bcrypt 31"][0]},
              {"email": "pbkdf2@example.com", "password_hash": hostile["pbkdf2 2e9"][0]},
              {"email": "unknown@example.com", "password_hash": hostile["unknown"][0]},
              {"email": "broken", "password_hash": FORMATS["hex_md5"][0]("x")},
              {"email": "BCRYPT_2A.0@example.com", "password_hash": FORMATS["hex_md5"][0]("x")}]
    source = tmp_path / "legacy.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n{oops\n")
    with celery_worker(cheap, tmp_path / "worker.log", queues="bulk"):
        out = manage(cheap, "import_users", str(source), "--via-celery").stdout
    assert f"lines {len(lines) + 1}: created {len(users)}, updated 0, skipped 0 (existing), rejected 7" in out
    with open(tmp_path / "legacy.jsonl.report.csv", newline="") as handle:
        report = {row["email"]: row["reason"] for row in csv.DictReader(handle)}
    assert report["argon2@example.com"].startswith("hash beyond cost limits: argon2 memory")
    assert report["bcrypt@example.com"].startswith("hash beyond cost limits: bcrypt rounds 31")
    assert report["pbkdf2@example.com"].startswith("hash beyond cost limits: pbkdf2 iterations 2000000000")
    assert report["unknown@example.com"] == "unknown hash format"
    assert report["broken"] == "malformed email"
    assert report["bcrypt_2a.0@example.com"].startswith("duplicate email")
    assert report[""] == "not valid JSON"
    assert JobBatch.objects.exclude(lines="").count() == 0  # nothing staged stays behind

    with live_server_factory(workers=1, **CHEAP, **NO_THROTTLE) as server:
        for i, (email, (name, password)) in enumerate(users.items()):
            if i % 25 == 0:  # each failure lasts the floor of the slowest kind: a few suffice here
                assert login_status(server, email, password + " ") == 401, (name, password)
            assert login_status(server, email, password) == 200, (name, password)
    # Each login replaced the legacy hash with a current Argon2id one.
    assert all(passwords.hash_status(encoded) == "current" for encoded in User.objects.values_list("password", flat=True))


def test_wrap_leaves_no_weak_hash_and_logins_replace_wrapped_hashes(cheap: dict[str, str], live_server_factory,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path) -> None:
    users = weak_users(2000)
    with celery_worker(cheap, tmp_path / "worker.log", queues="celery,bulk", concurrency=2, pool="prefork"):
        out = manage(cheap, "rehash_passwords", "--wrap", "--wait").stdout
    assert inventory_totals(out) == {"current": 0, "outdated": 0, "weak": 0, "wrapped": 2000, "beyond_limits": 0,
                                     "unusable": 0}
    job = Job.objects.get()
    assert (job.state, job.total, job.done, job.failed) == (Job.State.DONE, 2000, 2000, 0)
    # Every user's password still matches; one in eight also logs in over HTTP (the same code
    # path, with the session work around it), which replaces the wrapped hash.
    over_http = dict(list(users.items())[::8])
    for email, encoded in User.objects.values_list("email", "password"):
        if email not in over_http:
            assert passwords.verify(users[email], encoded).valid, email
    with live_server_factory(workers=1, **CHEAP, **NO_THROTTLE) as server, ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda item: login_status(server, *item), over_http.items()))
    assert statuses == [200] * len(over_http)
    for email, encoded in User.objects.values_list("email", "password"):
        status = passwords.classify(encoded).status
        assert status == (hashformats.CURRENT if email in over_http else hashformats.WRAPPED), email


def test_a_killed_worker_loses_nothing_and_a_rerun_finishes_the_job(cheap: dict[str, str], tmp_path: Path) -> None:
    users = weak_users(1000)
    env = {**cheap, "ARGON2_MEMORY_COST": "4096", "WRAP_BATCH_SIZE": "20"}
    with override_settings(ARGON2_MEMORY_COST=4096):
        first = celery_worker(env, tmp_path / "worker-1.log", queues="bulk", concurrency=2, pool="prefork")
        with first as worker:
            manage(env, "rehash_passwords", "--wrap")
            job = Job.objects.get()
            deadline = time.monotonic() + 120
            while Job.objects.get().done < 100:
                assert time.monotonic() < deadline, worker.log.read_text(errors="replace")
                time.sleep(0.02)
            worker.kill()
        job.refresh_from_db()
        assert 0 < job.done < job.total == 1000 and job.state == Job.State.RUNNING
        with celery_worker(env, tmp_path / "worker-2.log", queues="bulk", concurrency=2, pool="prefork"):
            out = manage(env, "rehash_passwords", "--wrap", "--wait").stdout
        assert f"wrap job {job.pk} resumed" in out
        job.refresh_from_db()
        assert (job.state, job.done, job.failed) == (Job.State.DONE, 1000, 0)
        assert Job.objects.count() == 1 and not JobBatch.objects.filter(finished=False).exists()
        for email, encoded in User.objects.values_list("email", "password"):
            assert passwords.classify(encoded).status == hashformats.WRAPPED
            # Wrapped exactly once: the original password still verifies.
            assert passwords.verify(users.pop(email), encoded).valid, email
        assert not users  # nobody lost


def test_the_broker_carries_ids_only(cheap: dict[str, str], tmp_path: Path) -> None:
    users = weak_users(30)
    stored = list(User.objects.values_list("password", flat=True))
    digests = [passwords.classify(encoded).digest for encoded in stored]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("bulk")
    with override_settings(WRAP_BATCH_SIZE=7):
        job, _ = wrapping.start("test")
    source = tmp_path / "more.jsonl"
    source.write_text("\n".join(json.dumps({"email": f"new{i}@example.com", "password_hash": h})
                                for i, h in enumerate(stored)))
    # No worker runs: the command stages, enqueues, then waits for the job; it is stopped then.
    command = subprocess.Popen([sys.executable, "manage.py", "import_users", str(source), "--via-celery"], cwd=ROOT,
                               env=cheap, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while broker.llen("bulk") < 5 + 1:
            assert time.monotonic() < deadline and command.poll() is None
            time.sleep(0.05)
    finally:
        command.kill()
        command.wait()
    messages = broker.lrange("bulk", 0, -1)
    assert len(messages) == 5 + 1
    import_job = Job.objects.get(kind=Job.Kind.IMPORT)
    for raw in messages:
        for secret in [*users.values(), *stored, *digests]:
            assert secret.encode() not in raw
        message = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        assert kwargs == {} and args[0] in (job.pk, import_job.pk) and isinstance(args[1], int) and len(args) == 2
        for secret in [*users.values(), *stored, *digests]:
            assert secret not in base64.b64decode(message["body"]).decode()
    broker.delete("bulk")
