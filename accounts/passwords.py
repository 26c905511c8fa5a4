"""All password hashing, always off the event loop, in a bounded per-process pool.

Argon2 is deliberately slow CPU work. Async callers use `ahash` / `averify` / `adummy_verify`,
which run the work on `HASH_WORKERS` low-priority threads. At most `HASH_QUEUE_LIMIT` more
requests may wait; beyond that the call fails at once with `Overloaded` (HTTP 503), so a login
flood turns into fast refusals instead of an ever-growing queue.

This is the only module that calls Django's hashing functions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import argon2
from django.conf import settings
from django.contrib.auth.hashers import (
    get_hasher,
    identify_hasher,
    is_password_usable,
    make_password,
    verify_password,
)
from django.core.signals import setting_changed

from accounts import hashformats, legacy_hashers, metrics
from accounts.exceptions import Overloaded
from accounts.hashformats import HashInfo

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Verification:
    """Outcome of checking a password against a stored hash."""

    valid: bool
    # The current-parameter Argon2id hash to store instead, when the stored one is outdated.
    upgraded_hash: str | None = None


def _lower_thread_priority() -> None:
    # Hashing threads yield the CPU to the event-loop thread: with equal priority they starve
    # it and every other request waits behind the hashes.
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), settings.HASH_THREAD_NICE)
    except OSError:  # pragma: no cover - platform without per-thread priorities
        logger.warning("could not lower hashing thread priority")


class HashPool:
    """A fixed thread pool with a bounded number of admitted jobs (running + waiting)."""

    def __init__(self, workers: int, queue_limit: int):
        self.workers = workers
        self.queue_limit = queue_limit
        self.capacity = workers + queue_limit
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="argon2", initializer=_lower_thread_priority
        )
        self._lock = threading.Lock()
        self._admitted = 0
        metrics.HASH_POOL_THREADS.inc(workers)
        metrics.HASH_POOL_QUEUE_LIMIT.inc(queue_limit)

    @property
    def admitted(self) -> int:
        """Jobs running or waiting right now."""
        return self._admitted

    def _release(self, future: Future[object]) -> None:
        with self._lock:
            self._admitted -= 1
        if future.cancelled():  # never started: it left the queue without running
            metrics.HASH_QUEUED.dec()

    @staticmethod
    def _timed(fn: Callable[..., T], submitted: float, *args: object) -> T:
        # Runs on a pool thread: the job leaves the queue and occupies a thread.
        started = time.perf_counter()
        metrics.HASH_QUEUED.dec()
        metrics.HASH_BUSY.inc()
        metrics.HASH_WAIT_SECONDS.observe(started - submitted)
        try:
            return fn(*args)
        finally:
            metrics.HASH_BUSY.dec()
            metrics.HASH_SECONDS.labels(fn.__name__).observe(time.perf_counter() - started)

    def refusal(self) -> Overloaded | None:
        """The Overloaded error to answer with if no job could be admitted now, else None.

        Callers check this before any I/O so that a flood is refused for the price of a
        comparison; `submit` still decides atomically when the hash is actually requested.
        """
        if self._admitted >= self.capacity:
            metrics.HASH_REFUSALS.inc()
            return Overloaded(retry_after=1)
        return None

    def ensure_room(self) -> None:
        """Raise Overloaded if no job could be admitted now (see `refusal`)."""
        refusal = self.refusal()
        if refusal is not None:
            raise refusal

    def submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        """Admit a job or raise Overloaded at once; the slot frees when the job ends."""
        with self._lock:
            if self._admitted >= self.capacity:
                metrics.HASH_REFUSALS.inc()
                raise Overloaded(retry_after=1)
            self._admitted += 1
        metrics.HASH_QUEUED.inc()
        try:
            future = self._executor.submit(self._timed, fn, time.perf_counter(), *args)
        except BaseException:
            with self._lock:
                self._admitted -= 1
            metrics.HASH_QUEUED.dec()
            raise
        # Released from the worker thread when the job really ends, even if the awaiting
        # request was cancelled meanwhile: the slot is busy as long as the CPU is.
        future.add_done_callback(self._release)
        return future

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        future = self.submit(fn, *args)
        try:
            return await asyncio.wrap_future(future)
        except BaseException as exc:
            # A caller cancelled while the job waited for a thread: it never runs. Otherwise
            # (running, or failed in the job) the work was done or is being done.
            if not (isinstance(exc, asyncio.CancelledError) and future.cancel()):
                _mark_started(exc)
            raise

    def wait(self, fn: Callable[..., T], *args: object) -> T:
        """Sync twin of `run`: this thread waits for the job."""
        future = self.submit(fn, *args)
        try:
            return future.result()
        except BaseException as exc:
            _mark_started(exc)
            raise

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        metrics.HASH_POOL_THREADS.dec(self.workers)
        metrics.HASH_POOL_QUEUE_LIMIT.dec(self.queue_limit)


def _mark_started(exc: BaseException) -> None:
    exc.authsite_hash_started = True  # type: ignore[attr-defined]


def hash_started(exc: BaseException) -> bool:
    """Whether a hashing call that raised `exc` had started its hash (the CPU was spent):
    False for a refusal (Overloaded) or a cancellation while queued."""
    return bool(getattr(exc, "authsite_hash_started", False))


_pool: HashPool | None = None
_pool_lock = threading.Lock()
_dummy_hash: str | None = None


def get_pool() -> HashPool:
    """This process's hashing pool, created on first use."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = HashPool(settings.HASH_WORKERS, settings.HASH_QUEUE_LIMIT)
    return _pool


def _reset(**kwargs: object) -> None:
    global _pool, _dummy_hash
    setting = kwargs.get("setting")
    if setting is None or setting in {"HASH_WORKERS", "HASH_QUEUE_LIMIT"}:
        old, _pool = _pool, None
        if old is not None:
            old.shutdown()
    if setting is None or str(setting).startswith("ARGON2_") or setting == "PASSWORD_HASHERS":
        _dummy_hash = None


setting_changed.connect(_reset)
if hasattr(os, "register_at_fork"):
    # A forked child must not inherit the parent's (thread-less) executor.
    os.register_at_fork(after_in_child=_reset)


# --- Synchronous primitives (run on pool threads, or directly from sync code) ---

def hash_password(password: str) -> str:
    """Hash with the current Argon2id parameters."""
    return make_password(password)


def verify(password: str, encoded: str) -> Verification:
    """Check `password` against `encoded`; on success with an outdated hash, rehash it.

    A failure against a hash that is not current Argon2id also runs one dummy verification,
    so that every failure costs at least the current Argon2 work (no timing oracle for
    accounts with fast legacy hashes).
    """
    info = classify(encoded)
    if not info.encoded or not _identifiable(info.encoded):
        # Unusable, unknown, or beyond the cost limits: never computed. Django would fake the
        # runtime with a full *hash* here; spend one verification instead.
        if info.status == hashformats.BEYOND_LIMITS:
            logger.warning("stored password hash beyond the cost limits; not computed",
                           extra={"kind": info.kind, "params": info.params, "limit": info.reason})
        dummy_verify(password)
        return Verification(False)
    try:
        valid, must_update = verify_password(password, info.encoded)
    except ValueError:  # a malformed hash of a known algorithm (e.g. argon2's InvalidHashError)
        valid, must_update = False, True
    if valid:
        return Verification(True, make_password(password) if must_update else None)
    if must_update:
        dummy_verify(password)
    return Verification(False)


def _identifiable(encoded: str) -> bool:
    try:
        identify_hasher(encoded)
    except ValueError:
        return False
    return True


def dummy_verify(password: str) -> None:
    """Spend exactly one Argon2 verification at the current parameters, for nothing."""
    global _dummy_hash
    if _dummy_hash is None:
        # Making the dummy hash costs exactly what a verification costs: on first use that is
        # this call's work (verifying as well would make the first failure twice as slow).
        _dummy_hash = make_password(secrets.token_urlsafe(32))
        return
    verify_password(password, _dummy_hash)


HASH_STATUSES = hashformats.STATUSES


def hash_status(encoded: str | None) -> str:
    """What a login would do with this stored hash: the status `classify` gives it."""
    return classify(encoded or "").status


# An unusable password (Django's "!" prefix) that staff set to make the owner choose a new one.
FORCED_RESET_PREFIX = "!reset-"


def forced_reset_marker() -> str:
    """An unusable password value that marks "staff forced a reset"."""
    return FORCED_RESET_PREFIX + secrets.token_urlsafe(30)


def can_be_reset(encoded: str) -> bool:
    """Whether a reset mail may be sent for this stored value: a usable password, or the mark
    of a forced reset (an account created without a password gets none)."""
    return bool(encoded) and (is_password_usable(encoded) or encoded.startswith(FORCED_RESET_PREFIX))


def hash_summary(encoded: str) -> str:
    """Kind, parameter set and status of `encoded` (never any secret part of the hash)."""
    info = classify(encoded)
    return f"{info.label} ({info.status})"


def classify(encoded: str) -> HashInfo:
    """The one classification of stored hashes: kind, parameter set and status (current,
    outdated, weak, wrapped, beyond_limits, unusable). Used by login, import, the inventory,
    the metrics and the admin."""
    return hashformats.describe(encoded)


def importable(raw: str) -> str:
    """The value to store for an imported hash, or raise UnsupportedHash with the reason.

    Bare formats get an algorithm prefix; nothing is computed.
    """
    if isinstance(raw, str) and raw.startswith("!") and len(raw) <= 128 and raw.isprintable():
        return raw  # Django's unusable-password marker: the account exists, no password works
    info = classify(raw)
    if info.status == hashformats.BEYOND_LIMITS:
        raise hashformats.UnsupportedHash(f"hash beyond cost limits: {info.reason}")
    if not info.encoded or not _identifiable(info.encoded):
        raise hashformats.UnsupportedHash("unknown hash format")
    if len(info.encoded) > hashformats.MAX_IMPORTED_LENGTH:
        raise hashformats.UnsupportedHash("hash too long")
    return info.encoded


def sample_hash(kind: str, params: str) -> str:
    """A hash of a random password with this kind and parameter set (see accounts.timing)."""
    return legacy_hashers.sample_hash(kind, params)


def _check_seconds(encoded: str, wrong: str) -> float:
    # Argon2 through argon2-cffi itself: the same work as the registered hasher's verify.
    started = time.perf_counter()
    if encoded.startswith("argon2$"):
        try:
            argon2.PasswordHasher().verify(encoded.removeprefix("argon2"), wrong)
        except argon2.exceptions.VerificationError:
            pass
    else:
        identify_hasher(encoded).verify(wrong, encoded)
    return time.perf_counter() - started


def failure_seconds(kind: str, params: str) -> float:
    """Seconds a wrong password costs against a hash of this kind and parameter set here;
    ("", "") is an unknown email (one dummy verification). Measured outside the pool: its own
    verification, plus a current-parameter one unless it is current (as `verify` does), the
    larger of two measurements."""
    current_params = f"m={settings.ARGON2_MEMORY_COST},t={settings.ARGON2_TIME_COST},p={settings.ARGON2_PARALLELISM}"
    current = not kind or (kind == "argon2id" and params == current_params)
    wrong = secrets.token_urlsafe(16)
    sample = legacy_hashers.sample_hash(kind or "argon2id", params if kind else current_params)
    dummy = legacy_hashers.sample_hash("argon2id", current_params)
    runs = [_check_seconds(sample, wrong) + (0.0 if current else _check_seconds(dummy, wrong)) for _ in range(2)]
    return max(runs)


def wrap(encoded: str) -> str | None:
    """The Argon2id-wrapped form of a weak hash, or None when `encoded` is not weak."""
    info = classify(encoded)
    if info.status != hashformats.WEAK:
        return None
    return get_hasher(f"wrapped_{info.kind}").wrap(info)  # type: ignore[attr-defined, no-any-return]


# --- Async API: every hash runs in the bounded pool, never on the event loop ---

async def ahash(password: str) -> str:
    return await get_pool().run(hash_password, password)


async def averify(password: str, encoded: str) -> Verification:
    return await get_pool().run(verify, password, encoded)


async def adummy_verify(password: str) -> None:
    await get_pool().run(dummy_verify, password)


# --- Sync twins for sync callers (admin, commands): the same pool, this thread waits ---

def hash_in_pool(password: str) -> str:
    return get_pool().wait(hash_password, password)


def verify_in_pool(password: str, encoded: str) -> Verification:
    return get_pool().wait(verify, password, encoded)


def dummy_verify_in_pool(password: str) -> None:
    get_pool().wait(dummy_verify, password)
