"""/metrics: what is counted, under which labels, and that all worker processes are summed."""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading
import uuid
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client
from prometheus_client.mmap_dict import MmapedDict

from accounts import inventory, passwords
from accounts import metrics as account_metrics
from accounts.exceptions import Overloaded
from accounts.models import User
from authsite.kit import metrics
from tokens import metrics as token_metrics

PASSWORD = "correct horse battery staple"


def value(metric, **labels: str) -> float:  # type: ignore[no-untyped-def]
    """This process's value of one sample of `metric` (suffix _total/_count/"" chosen by kind)."""
    child = metric.labels(**labels) if labels else metric
    for family in child.collect():
        for sample in family.samples:
            if sample.name.endswith(("_total", "_count")) or sample.name == family.name:
                return sample.value
    raise AssertionError("no sample")


def scrape(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, number = line.rpartition(" ")
        metric_name, _, rest = key.partition("{")
        got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if metric_name == name and got == wanted:
            return float(number)
    raise AssertionError(f"{name}{labels} not in /metrics")


def signup_and_login(client: Client, email: str) -> dict[str, str]:
    assert client.post("/api/v1/auth/signup", {"email": email, "password": PASSWORD},
                       content_type="application/json").status_code == 201
    r = client.post("/api/v1/auth/login", {"email": email, "password": PASSWORD}, content_type="application/json")
    assert r.status_code == 200, r.content
    return r.json()


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


@pytest.mark.django_db
def test_login_outcomes_hashing_and_token_cache_are_counted() -> None:
    client = Client()
    before = {o: value(account_metrics.LOGIN_OUTCOMES, outcome=o) for o in ("success", "failure")}
    created = value(account_metrics.SIGNUP_OUTCOMES, outcome="created")
    hashes = value(account_metrics.HASH_SECONDS, operation="hash_password")
    verifies = value(account_metrics.HASH_SECONDS, operation="verify")
    waits = value(account_metrics.HASH_WAIT_SECONDS)
    pair = signup_and_login(client, "counted@example.com")
    r = client.post("/api/v1/auth/login", {"email": "counted@example.com", "password": PASSWORD + "x"},
                    content_type="application/json")
    assert r.status_code == 401
    assert value(account_metrics.SIGNUP_OUTCOMES, outcome="created") == created + 1
    assert value(account_metrics.LOGIN_OUTCOMES, outcome="success") == before["success"] + 1
    assert value(account_metrics.LOGIN_OUTCOMES, outcome="failure") == before["failure"] + 1
    assert value(account_metrics.HASH_SECONDS, operation="hash_password") == hashes + 1
    assert value(account_metrics.HASH_SECONDS, operation="verify") == verifies + 2
    assert value(account_metrics.HASH_WAIT_SECONDS) == waits + 3
    assert value(account_metrics.HASH_POOL_THREADS) == passwords.get_pool().workers
    assert value(account_metrics.HASH_BUSY) == 0 and value(account_metrics.HASH_QUEUED) == 0

    hits, misses, checks = (value(token_metrics.TOKEN_CACHE_HITS), value(token_metrics.TOKEN_CACHE_MISSES),
                            value(token_metrics.SIGNATURE_VERIFICATIONS))
    auth = {"Authorization": f"Bearer {pair['access_token']}"}
    for _ in range(3):
        assert client.get("/api/v1/auth/me", headers=auth).status_code == 200
    assert value(token_metrics.TOKEN_CACHE_MISSES) == misses + 1
    assert value(token_metrics.SIGNATURE_VERIFICATIONS) == checks + 1
    assert value(token_metrics.TOKEN_CACHE_HITS) == hits + 2


@pytest.mark.django_db
def test_throttled_logins_are_counted(settings) -> None:  # type: ignore[no-untyped-def]
    settings.THROTTLE_ACCOUNT_IP = (2, 900)
    client = Client()
    throttled = value(account_metrics.THROTTLED, action="login")
    outcome = value(account_metrics.LOGIN_OUTCOMES, outcome="throttled")
    statuses = [client.post("/api/v1/auth/login", {"email": "nobody@example.com", "password": PASSWORD},
                            content_type="application/json").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert value(account_metrics.THROTTLED, action="login") == throttled + 1
    assert value(account_metrics.LOGIN_OUTCOMES, outcome="throttled") == outcome + 1


def test_hash_pool_gauges_follow_busy_and_queued_jobs_and_refusals_are_counted() -> None:
    pool = passwords.HashPool(workers=1, queue_limit=1)
    release = threading.Event()
    running = threading.Event()
    busy, queued, refused = value(account_metrics.HASH_BUSY), value(account_metrics.HASH_QUEUED), value(account_metrics.HASH_REFUSALS)

    def block() -> None:
        running.set()
        release.wait(10)

    try:
        first = pool.submit(block)
        assert running.wait(5)
        second = pool.submit(block)
        assert value(account_metrics.HASH_BUSY) == busy + 1
        assert value(account_metrics.HASH_QUEUED) == queued + 1
        with pytest.raises(Overloaded):
            pool.submit(block)
        assert value(account_metrics.HASH_REFUSALS) == refused + 1
        release.set()
        first.result(5), second.result(5)
        assert value(account_metrics.HASH_BUSY) == busy and value(account_metrics.HASH_QUEUED) == queued
    finally:
        release.set()
        pool.shutdown()


@pytest.mark.django_db
def test_users_by_hash_status_gauge_counts_each_kind() -> None:
    User.objects.create(email="current@example.com", password=make_password(PASSWORD))
    User.objects.create(email="old-argon@example.com",
                        password="argon2$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
    User.objects.create(email="md5@example.com", password=make_password(PASSWORD, hasher="md5"))
    User.objects.create(email="none@example.com", password=make_password(None))
    counts = inventory.refresh_users_gauge()
    assert counts == {"current": 1, "outdated_argon2": 1, "legacy": 1, "unusable": 1}
    assert value(account_metrics.USERS_BY_HASH_STATUS, hash_status="legacy") == 1
    assert "authsite_users{hash_status=\"legacy\"}" in Client().get("/metrics").content.decode()


def test_job_progress_is_reported_as_done_and_total() -> None:
    metrics.report_job_progress("rehash", 40, 100)
    assert value(metrics.JOB_PROGRESS, job="rehash", kind="done") == 40
    assert value(metrics.JOB_PROGRESS, job="rehash", kind="total") == 100


def test_files_of_dead_processes_are_removed_live_ones_kept(tmp_path: Path) -> None:
    import subprocess
    import sys

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
