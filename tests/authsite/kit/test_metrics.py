"""/metrics plumbing: the exposition, requests counted by route name, job progress, and every
worker process summed."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from django.test import Client
from prometheus_client.mmap_dict import MmapedDict

from authsite.kit import metrics
from tests.support.metrics import scrape, value

PASSWORD = "correct horse battery staple"


@pytest.mark.django_db
def test_metrics_endpoint_serves_every_family_in_prometheus_format() -> None:
    assert Client().get("/healthz").status_code == 200  # labelled families appear once used
    r = Client().get("/metrics")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/plain")
    text = r.content.decode()
    for family in ("authsite_http_requests_total", "authsite_hash_pool_threads", "authsite_hash_pool_busy_threads",
                   "authsite_hash_pool_queue_depth", "authsite_hash_wait_seconds",
                   "authsite_hash_refusals_total", "authsite_token_cache_hits_total",
                   "authsite_token_cache_misses_total", "authsite_token_signature_verifications_total"):
        assert f"# TYPE {family.removesuffix('_total')}" in text, family
    assert Client().post("/metrics").status_code == 405
    assert Client().post("/metrics").json()["error"] == "method_not_allowed"


@pytest.mark.django_db
def test_requests_are_counted_by_route_name_not_raw_path() -> None:
    client = Client()
    session_id = str(uuid.uuid4())
    before_detail = value(metrics.REQUESTS, endpoint="session-detail", status="401")
    before_unmatched = value(metrics.REQUESTS, endpoint="unmatched", status="404")
    before_health = value(metrics.REQUEST_SECONDS, endpoint="healthz")
    assert client.delete(f"/api/v1/auth/sessions/{session_id}").status_code == 401
    assert client.get("/api/v1/no/such/page").status_code == 404
    assert client.get("/healthz").status_code == 200
    assert value(metrics.REQUESTS, endpoint="session-detail", status="401") == before_detail + 1
    assert value(metrics.REQUESTS, endpoint="unmatched", status="404") == before_unmatched + 1
    assert value(metrics.REQUEST_SECONDS, endpoint="healthz") == before_health + 1
    text = client.get("/metrics").content.decode()
    assert session_id not in text and "/api/v1/no/such/page" not in text


def test_job_progress_is_reported_as_done_and_total() -> None:
    metrics.report_job_progress("rehash", 40, 100)
    assert value(metrics.JOB_PROGRESS, job="rehash", kind="done") == 40
    assert value(metrics.JOB_PROGRESS, job="rehash", kind="total") == 100


def test_files_of_dead_processes_are_removed_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name in (f"counter_{dead.pid}.db", f"gauge_livesum_{dead.pid}.db", f"counter_{os.getpid()}.db"):
        (tmp_path / name).write_bytes(b"")
    removed = metrics.remove_dead_process_files(tmp_path)
    assert sorted(removed) == sorted([f"counter_{dead.pid}.db", f"gauge_livesum_{dead.pid}.db"])
    assert [p.name for p in tmp_path.glob("*.db")] == [f"counter_{os.getpid()}.db"]


def _per_process_counts(folder: Path, endpoint: str) -> dict[int, float]:
    counts: dict[int, float] = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for key, number, _ts, _pos in MmapedDict.read_all_values_from_file(str(path)):
            metric, sample, labels, _help = json.loads(key)
            if sample == "authsite_http_requests_total" and labels.get("endpoint") == endpoint:
                counts[pid] = counts.get(pid, 0) + number
    return counts


def test_two_uvicorn_workers_are_summed(live_server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "prom"
    folder.mkdir()
    requests = 60

    def fetch(_: int) -> int:
        # A new connection each time: the kernel spreads them over both workers.
        return httpx.get(f"{base}/api/v1/schema", headers={"Connection": "close"}).status_code

    def login(_: int) -> int:
        return httpx.post(f"{base}/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD},
                          headers={"Connection": "close"}).status_code

    with live_server_factory(workers=2, PROMETHEUS_MULTIPROC_DIR=str(folder), HASH_WORKERS="1",
                             HASH_QUEUE_LIMIT="8", THROTTLE_IP="0/0", THROTTLE_ACCOUNT="0/0",
                             THROTTLE_ACCOUNT_IP="0/0") as base:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            assert set(pool.map(fetch, range(requests))) == {200}
            assert set(pool.map(login, range(24))) == {401}
        per_process = _per_process_counts(folder, "schema")
        assert len(per_process) == 2, per_process  # both workers served some
        text = httpx.get(f"{base}/metrics").text
        assert scrape(text, "authsite_http_requests_total", endpoint="schema", status="200") == requests
        assert scrape(text, "authsite_login_outcomes_total", outcome="failure") == 24
        assert scrape(text, "authsite_hash_pool_threads") == 2  # one 1-thread pool per worker
        live = sorted(p.name for p in folder.glob("gauge_livesum_*.db"))
        assert len(live) == 2, live
    # The next scrape (any process) drops the live gauges of the dead workers; counters stay.
    assert len(metrics.mark_dead_processes(folder)) == 2
    assert not list(folder.glob("gauge_livesum_*.db"))
    assert sum(_per_process_counts(folder, "schema").values()) == requests
