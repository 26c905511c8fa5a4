"""Metrics of the accounts app: logins, signups, throttling, the hashing pool, users by hash status."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from accounts.exceptions import EmailTaken, EmailUnverified, InvalidCredentials, Overloaded, TooManyAttempts
from authsite.kit.exceptions import ValidationFailed

P = ParamSpec("P")
T = TypeVar("T")

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

# --- Outcomes ---
LOGIN_OUTCOMES = Counter("authsite_login_outcomes_total", "Login attempts by outcome.", ["outcome"])
SIGNUP_OUTCOMES = Counter("authsite_signup_outcomes_total", "Signup attempts by outcome.", ["outcome"])
THROTTLED = Counter("authsite_throttled_attempts_total", "Attempts refused by throttling (429), by action.",
                    ["action"])
USERS_BY_HASH_STATUS = Gauge("authsite_users", "Users by stored password hash status (refreshed periodically).",
                             ["hash_status"], multiprocess_mode="mostrecent")

_OUTCOME_OF: dict[type[Exception], str] = {
    InvalidCredentials: "failure",
    TooManyAttempts: "throttled",
    Overloaded: "overloaded",
    EmailTaken: "email_taken",
    EmailUnverified: "email_unverified",
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
