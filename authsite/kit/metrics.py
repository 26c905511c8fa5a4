"""Metric plumbing: request metrics, job progress, scrape hooks and the `/metrics` view.

prometheus-client runs in multiprocess mode: each process (uvicorn worker, Celery worker)
writes its values to memory-mapped files in settings.PROMETHEUS_MULTIPROC_DIR, and `/metrics`
sums the files of all processes, so any worker answers for all of them. Each app declares its
own metric objects in its `metrics` module; this module only holds what every app shares.
Process bookkeeping (removing files of dead processes, marking this one dead at exit) runs from
`start_process_bookkeeping`, called by the kit's AppConfig.ready(), never at import.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import hmac
import ipaddress
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.django import PrometheusDjangoView

from authsite.kit.errors import error_response
from authsite.kit.http import client_ip

logger = logging.getLogger(__name__)

# --- HTTP ---
REQUESTS = Counter("authsite_http_requests_total", "HTTP requests answered, by route name and status.",
                   ["endpoint", "status"])
REQUEST_SECONDS = Histogram("authsite_http_request_duration_seconds", "Time to answer, by route name.",
                            ["endpoint"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))

# --- Bulk jobs ---
JOB_PROGRESS = Gauge("authsite_job_progress_items", "Progress of bulk jobs: items done and total, by job.",
                     ["job", "kind"], multiprocess_mode="mostrecent")


def report_job_progress(job: str, done: int, total: int) -> None:
    """Publish a bulk job's progress (`authsite_job_progress_items`)."""
    JOB_PROGRESS.labels(job, "done").set(done)
    JOB_PROGRESS.labels(job, "total").set(total)

# --- Requests (authsite.kit.middleware) ---

_request_children: dict[tuple[str, int], tuple[Any, Any]] = {}


def observe_request(request: HttpRequest, status: int, seconds: float) -> None:
    """Count one answered request under its route name (never the raw path)."""
    match = request.resolver_match
    observe(match.view_name if match is not None else "unmatched", status, seconds)


def observe(endpoint: str, status: int, seconds: float | None) -> None:
    """Count one answered request of route `endpoint`, and time it unless `seconds` is None (a
    refusal at the door: no work to time, and a flood of them would drown the route's latency)."""
    children = _request_children.get((endpoint, status))
    if children is None:
        children = (REQUESTS.labels(endpoint, str(status)), REQUEST_SECONDS.labels(endpoint))
        _request_children[(endpoint, status)] = children
    children[0].inc()
    if seconds is not None:
        children[1].observe(seconds)


# --- The view ---

def _multiproc_dir() -> Path:
    return Path(settings.PROMETHEUS_MULTIPROC_DIR)


_scrape_hooks: list[Callable[[], None]] = []


def on_scrape(hook: Callable[[], None]) -> None:
    """Run `hook` before every scrape of /metrics (it must return at once: start background
    work, never do it). Apps register theirs in AppConfig.ready()."""
    if hook not in _scrape_hooks:
        _scrape_hooks.append(hook)


@functools.lru_cache(maxsize=4)
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(net, strict=False) for net in spec)


def may_scrape(request: HttpRequest) -> bool:
    """Whether `request` may read /metrics: a client in METRICS_ALLOWED_NETWORKS, or one that
    presents `Authorization: Bearer $METRICS_TOKEN` (when that is set)."""
    token = settings.METRICS_TOKEN
    if token and hmac.compare_digest(request.headers.get("Authorization", "").encode(),
                                     f"Bearer {token}".encode()):
        return True
    address = ipaddress.ip_address(client_ip(request))
    return any(address in net for net in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


class MetricsView(PrometheusDjangoView):
    """prometheus-client's exposition view (text or OpenMetrics, gzip) over all processes, for
    scrapers only (`may_scrape`); anyone else gets the same 404 as an unknown path.

    A sync view on purpose: collecting reads every process's files, which belongs on a thread.
    """

    multiprocess_mode = True

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_scrape(request):
            return error_response(404, "not_found", "Not found.")
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(_multiproc_dir()))
        self.registry = registry
        for hook in _scrape_hooks:
            hook()
        mark_dead_processes()
        return super().get(request, *args, **kwargs)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return error_response(405, "method_not_allowed", "Method not allowed.", headers={"Allow": "GET"})


metrics_view = MetricsView.as_view()


# --- Process bookkeeping ---

_PID_IN_NAME = re.compile(r"_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_process_files(path: Path | None = None) -> list[str]:
    """Delete the metric files of processes that no longer run (a previous server run, a
    crashed worker). Safe while other processes start: live processes' files stay, and an
    exclusive lock serialises the cleaners."""
    path = path or _multiproc_dir()
    removed: list[str] = []
    with open(path / ".cleanup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for entry in path.glob("*.db"):
            found = _PID_IN_NAME.search(entry.name)
            if found and not _alive(int(found.group(1))):
                entry.unlink(missing_ok=True)
                removed.append(entry.name)
    return removed


def mark_dead_processes(path: Path | None = None) -> list[int]:
    """Drop the "live" gauges of processes that died (however they died: uvicorn re-raises
    SIGTERM in its workers, so their exit hooks never run; a crash or SIGKILL neither)."""
    path = path or _multiproc_dir()
    dead: set[int] = set()
    for entry in path.glob("gauge_live*.db"):
        found = _PID_IN_NAME.search(entry.name)
        if found and not _alive(int(found.group(1))):
            dead.add(int(found.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(path))
    return sorted(dead)


def _mark_dead(pid: int, path: str) -> None:
    if os.getpid() == pid:
        multiprocess.mark_process_dead(pid, path)


def _register_exit_hook() -> None:
    atexit.register(_mark_dead, os.getpid(), str(_multiproc_dir()))


_bookkeeping_started: list[int] = []


def start_process_bookkeeping() -> None:
    """At process start: remove the files of dead processes, and mark this process (and every
    process forked from it, such as Celery's prefork children) dead when it exits."""
    if _bookkeeping_started:
        return
    _bookkeeping_started.append(os.getpid())
    try:
        remove_dead_process_files()
    except OSError:  # read-only folder: metrics still work, only stale files stay
        logger.warning("could not clean %s", _multiproc_dir())
    _register_exit_hook()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_register_exit_hook)
