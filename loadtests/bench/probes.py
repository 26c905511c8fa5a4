"""Samplers that run in threads of the benchmark process while wrk floods the server."""

from __future__ import annotations

import http.client
import threading
import time

from loadtests.bench.config import SEED_PASSWORD, SEED_PREFIX
from loadtests.bench.machine import proc_status
from loadtests.stack import request


def probe_503(base: str, stop: threading.Event, samples: list[tuple[int, float]]) -> None:
    """Sequential logins on one keep-alive connection, timing each answer (status, seconds)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    body = {"email": f"{SEED_PREFIX}1@example.com", "password": SEED_PASSWORD}
    while not stop.is_set():
        started = time.perf_counter()
        try:
            status, _ = request(base, "POST", "/api/v1/auth/login", body, conn=conn)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            continue
        samples.append((status, time.perf_counter() - started))
        time.sleep(0.005)
    conn.close()


def sample_rss(pids: list[int], stop: threading.Event, peaks: dict[int, int]) -> None:
    """Highest VmRSS (KiB) seen per process, sampled every 50 ms."""
    while not stop.is_set():
        for pid in pids:
            peaks[pid] = max(peaks.get(pid, 0), proc_status(pid).get("VmRSS", 0))
        time.sleep(0.05)
