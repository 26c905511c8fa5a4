"""Prometheus metrics: every metric object of the service, and the `/metrics` view.

prometheus-client runs in multiprocess mode: each process (uvicorn worker, Celery worker)
writes its values to memory-mapped files in settings.PROMETHEUS_MULTIPROC_DIR, and `/metrics`
sums the files of all processes, so any worker answers for all of them. settings.py exports
that folder to the environment before this module imports prometheus_client (which reads it
at import time). Each process removes the files of dead processes when it starts, and marks
itself dead at exit (its "live" gauges vanish with it).
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from django.conf import settings

_MULTIPROC_DIR = Path(settings.PROMETHEUS_MULTIPROC_DIR)  # loads settings, which export the folder

from django.http import HttpRequest, HttpResponse  # noqa: E402
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess  # noqa: E402
from prometheus_client.django import PrometheusDjangoView  # noqa: E402

from accounts.exceptions import EmailTaken, InvalidCredentials, Overloaded, TooManyAttempts, ValidationFailed  # noqa: E402
from authsite.errors import error_response  # noqa: E402

logger = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# --- HTTP ---
REQUESTS = Counter("authsite_http_requests_total", "HTTP requests answered, by route name and status.",
                   ["endpoint", "status"])
REQUEST_SECONDS = Histogram("authsite_http_request_duration_seconds", "Time to answer, by route name.",
                            ["endpoint"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))

# --- Password hashing pool (accounts.passwords.HashPool) ---
HASH_POOL_THREADS = Gauge("authsite_hash_pool_threads", "Hashing threads (HASH_WORKERS, summed over processes).",
                          multiprocess_mode="livesum")
HASH_POOL_QUEUE_LIMIT = Gauge("authsite_hash_pool_queue_limit", "Hash jobs allowed to wait (HASH_QUEUE_LIMIT, summed).",
                              multiprocess_mode="livesum")
HASH_BUSY = Gauge("authsite_hash_pool_busy_threads", "Hashing threads running a hash now.", multiprocess_mode="livesum")
HASH_QUEUED = Gauge("authsite_hash_pool_queue_depth", "Hash jobs admitted and waiting for a thread.",
                    multiprocess_mode="livesum")
HASH_WAIT_SECONDS = Histogram("authsite_hash_wait_seconds", "Time a hash job waited for a thread.",
                              buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
HASH_SECONDS = Histogram("authsite_hash_seconds", "Time a hash job ran, by operation.", ["operation"],
                         buckets=(.005, .01, .02, .03, .05, .075, .1, .15, .25, .5, 1))
HASH_REFUSALS = Counter("authsite_hash_refusals_total", "Hash jobs refused because the queue was full (503).")

# --- Accounts ---
LOGIN_OUTCOMES = Counter("authsite_login_outcomes_total", "Login attempts by outcome.", ["outcome"])
SIGNUP_OUTCOMES = Counter("authsite_signup_outcomes_total", "Signup attempts by outcome.", ["outcome"])
THROTTLED = Counter("authsite_throttled_attempts_total", "Attempts refused by throttling (429), by action.",
                    ["action"])
USERS_BY_HASH_STATUS = Gauge("authsite_users", "Users by stored password hash status (refreshed periodically).",
                             ["hash_status"], multiprocess_mode="mostrecent")

# --- Tokens ---
TOKEN_CACHE_HITS = Counter("authsite_token_cache_hits_total", "Access tokens found in the verified-token cache.")
TOKEN_CACHE_MISSES = Counter("authsite_token_cache_misses_total", "Access tokens not in the verified-token cache.")
SIGNATURE_VERIFICATIONS = Counter("authsite_token_signature_verifications_total",
                                  "Full Ed25519 signature verifications of access tokens.")

# --- Celery jobs ---
JOB_PROGRESS = Gauge("authsite_job_progress_items", "Progress of bulk jobs: items done and total, by job.",
                     ["job", "kind"], multiprocess_mode="mostrecent")

_OUTCOME_OF: dict[type[Exception], str] = {
    InvalidCredentials: "failure",
    TooManyAttempts: "throttled",
    Overloaded: "overloaded",
    EmailTaken: "email_taken",
    ValidationFailed: "invalid",
}


def count_outcomes(counter: Counter, action: str,
                   success: str = "success") -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate an async use case: count its outcome (`success` or the kind of error raised);
    a throttling refusal is also counted in THROTTLED under `action`."""
    ok_child = counter.labels(success)
    throttled_child = THROTTLED.labels(action)

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                result = await fn(*args, **kwargs)
            except Exception as exc:
                outcome = next((name for klass, name in _OUTCOME_OF.items() if isinstance(exc, klass)), "error")
                counter.labels(outcome).inc()
                if outcome == "throttled":
                    throttled_child.inc()
                raise
            ok_child.inc()
            return result

        return wrapper

    return decorate


def report_job_progress(job: str, done: int, total: int) -> None:
    """Publish a bulk job's progress (for Celery tasks: `authsite_job_progress_items`)."""
    JOB_PROGRESS.labels(job, "done").set(done)
    JOB_PROGRESS.labels(job, "total").set(total)


# --- Requests (authsite.middleware) ---

_request_children: dict[tuple[str, int], tuple[Any, Any]] = {}


def observe_request(request: HttpRequest, status: int, seconds: float) -> None:
    """Count one answered request under its route name (never the raw path)."""
    match = request.resolver_match
    endpoint = match.view_name if match is not None else "unmatched"
    children = _request_children.get((endpoint, status))
    if children is None:
        children = (REQUESTS.labels(endpoint, str(status)), REQUEST_SECONDS.labels(endpoint))
        _request_children[(endpoint, status)] = children
    children[0].inc()
    children[1].observe(seconds)


# --- Users by hash status: refreshed in the background, never computed by a scrape ---

_refresh_lock = threading.Lock()
_last_refresh = 0.0


def current_hash_prefix() -> str:
    """The encoded-hash prefix of an Argon2id hash at the configured parameters."""
    return (f"argon2$argon2id$v=19$m={settings.ARGON2_MEMORY_COST},t={settings.ARGON2_TIME_COST},"
            f"p={settings.ARGON2_PARALLELISM}$")


def refresh_users_by_hash_status() -> dict[str, int]:
    """Count users by hash status (current / outdated_argon2 / legacy / unusable), set the gauge."""
    from django.db.models import Case, CharField, Count, Value, When

    from accounts.models import User

    rows = (User.objects.annotate(hash_status=Case(
        When(password__startswith=current_hash_prefix(), then=Value("current")),
        When(password__startswith="argon2$", then=Value("outdated_argon2")),
        When(password__startswith="!", then=Value("unusable")),
        When(password="", then=Value("unusable")),
        default=Value("legacy"), output_field=CharField()))
        .values("hash_status").annotate(n=Count("id")).order_by())
    counts = {"current": 0, "outdated_argon2": 0, "legacy": 0, "unusable": 0}
    counts.update({row["hash_status"]: row["n"] for row in rows})
    for status, n in counts.items():
        USERS_BY_HASH_STATUS.labels(status).set(n)
    return counts


def _refresh_in_background() -> None:
    try:
        refresh_users_by_hash_status()
    except Exception:  # noqa: BLE001 - a failed refresh keeps the previous values
        logger.warning("users-by-hash-status refresh failed", exc_info=True)
    finally:
        from django.db import connection

        connection.close()
        _refresh_lock.release()


def maybe_refresh_users() -> None:
    """Start a background refresh if the gauge is older than METRICS_REFRESH_SECONDS.

    At most one refresh runs per process; the caller never waits for it.
    """
    global _last_refresh
    now = time.monotonic()
    if _last_refresh and now - _last_refresh < settings.METRICS_REFRESH_SECONDS:
        return
    if not _refresh_lock.acquire(blocking=False):
        return
    _last_refresh = now
    threading.Thread(target=_refresh_in_background, name="metrics-refresh", daemon=True).start()


# --- The view ---

def render() -> bytes:
    """The Prometheus text exposition of all processes' metrics, summed."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(_MULTIPROC_DIR))
    return generate_latest(registry)


class MetricsView(PrometheusDjangoView):
    """prometheus-client's exposition view (text or OpenMetrics, gzip) over all processes.

    A sync view on purpose: collecting reads every process's files, which belongs on a thread.
    """

    multiprocess_mode = True

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.registry is None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=str(_MULTIPROC_DIR))
            type(self).registry = registry
        maybe_refresh_users()
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


def remove_dead_process_files(path: Path = _MULTIPROC_DIR) -> list[str]:
    """Delete the metric files of processes that no longer run (a previous server run, a
    crashed worker). Safe while other processes start: live processes' files stay, and an
    exclusive lock serialises the cleaners."""
    removed: list[str] = []
    with open(path / ".cleanup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for entry in path.glob("*.db"):
            found = _PID_IN_NAME.search(entry.name)
            if found and not _alive(int(found.group(1))):
                entry.unlink(missing_ok=True)
                removed.append(entry.name)
    return removed


def mark_dead_processes(path: Path = _MULTIPROC_DIR) -> list[int]:
    """Drop the "live" gauges of processes that died (however they died: uvicorn re-raises
    SIGTERM in its workers, so their exit hooks never run; a crash or SIGKILL neither)."""
    dead: set[int] = set()
    for entry in path.glob("gauge_live*.db"):
        found = _PID_IN_NAME.search(entry.name)
        if found and not _alive(int(found.group(1))):
            dead.add(int(found.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(path))
    return sorted(dead)


def _mark_dead(pid: int) -> None:
    if os.getpid() == pid:
        multiprocess.mark_process_dead(pid, str(_MULTIPROC_DIR))


try:
    remove_dead_process_files()
except OSError:  # pragma: no cover - read-only folder: metrics still work, only stale files stay
    logger.warning("could not clean %s", _MULTIPROC_DIR)
atexit.register(_mark_dead, os.getpid())
if hasattr(os, "register_at_fork"):
    # A forked child (Celery prefork) has its own pid: mark that one dead when it exits.
    os.register_at_fork(after_in_child=lambda: atexit.register(_mark_dead, os.getpid()))
