"""Readiness against a real Celery worker process and the Redis broker, and a broker that is down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from authsite.celery import app as celery_app
from tests.support.servers import ROOT, free_port, server_env


@contextmanager
def celery_worker(env: dict[str, str], log: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run `celery -A authsite worker --pool solo` until it answers a ping over the broker."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "authsite", "worker", "--pool", "solo",
             "--loglevel", "INFO", "--hostname", name],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text(errors="replace")
                replies = celery_app.control.ping(destination=[name], timeout=1.0)
                if any(name in reply for reply in replies):
                    break
                assert time.monotonic() < deadline, log.read_text(errors="replace")
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.mark.server
def test_readyz_is_ok_with_a_real_worker_on_the_redis_broker(live_server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    env = server_env()
    with celery_worker(env, tmp_path / "celery.log", f"h2-{free_port()}@localhost"), \
            live_server_factory(workers=1) as server:
        r = httpx.get(f"{server}/readyz", timeout=30)
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}


@pytest.mark.server
def test_readyz_names_the_broker_when_it_is_down(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    closed = free_port()  # nothing listens there
    with live_server_factory(workers=1, CELERY_BROKER_URL=f"redis://127.0.0.1:{closed}/0") as server:
        r = httpx.get(f"{server}/readyz", timeout=30)
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["error"] == "unavailable"
        assert "broker" in body["message"]
        assert body["checks"] == {"database": "ok", "cache": "ok", "broker": "down"}
        assert int(r.headers["Retry-After"]) >= 1
        # Liveness does not depend on the broker.
        assert httpx.get(f"{server}/healthz").status_code == 200
