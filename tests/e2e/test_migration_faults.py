"""A wrap job rides out a database restart: its tasks retry with backoff on the worker, and the
job still finishes with every weak hash wrapped exactly once (a private PostgreSQL, a real
Celery worker)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from accounts import hashformats
from accounts.hashformats import describe
from tests.support.legacy import FORMATS
from tests.support.private_postgres import private_postgres
from tests.support.servers import ROOT, server_env
from tests.support.workers import celery_worker

pytestmark = pytest.mark.server

USERS = 600


def job_row(url: str) -> tuple[str, int, int, int, str] | None:
    with psycopg.connect(url, connect_timeout=3) as conn:
        return conn.execute("SELECT state, total, done, failed, last_error FROM accounts_job").fetchone()


def test_tasks_retry_through_a_database_restart_and_the_job_finishes(transactional_db: None, tmp_path: Path) -> None:
    make = FORMATS["django_md5"][0]
    with private_postgres() as pg:
        env = server_env(DATABASE_URL=pg.url, ARGON2_MEMORY_COST="8192", ARGON2_TIME_COST="1", WRAP_BATCH_SIZE="20")
        pg.migrate(env)
        with pg.connect() as conn, conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO accounts_user (password, is_superuser, email, is_active, is_staff, date_joined) "
                "VALUES (%s, false, %s, true, false, now())",
                [(make(f"password {i}"), f"u{i}@example.com") for i in range(USERS)])
        with celery_worker(env, tmp_path / "worker.log", queues="bulk") as worker:
            subprocess.run([sys.executable, "manage.py", "rehash_passwords", "--wrap"], cwd=ROOT, env=env, check=True,
                           capture_output=True, timeout=120)
            deadline = time.monotonic() + 120
            while (row := job_row(pg.url)) is None or row[2] < 100:
                assert time.monotonic() < deadline, worker.log.read_text(errors="replace")
                time.sleep(0.05)
            pg.stop()
            time.sleep(3)  # batches fail on the worker meanwhile, and are retried later
            pg.start()
            deadline = time.monotonic() + 180
            while (row := job_row(pg.url))[0] != "done":  # type: ignore[index]
                assert time.monotonic() < deadline, (row, worker.log.read_text(errors="replace")[-3000:])
                time.sleep(0.2)
            log = worker.log.read_text(errors="replace")
        assert row[1:4] == (USERS, USERS, 0), row
        assert "OperationalError" in log and "retry" in log.lower()
        with pg.connect() as conn:
            stored = [r[0] for r in conn.execute("SELECT password FROM accounts_user").fetchall()]
        assert len(stored) == USERS
        assert all(describe(encoded).status == hashformats.WRAPPED for encoded in stored)
