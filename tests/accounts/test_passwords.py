"""accounts/passwords.py: the bounded, low-priority hashing pool and the async hashing API."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings

from accounts import passwords
from accounts.exceptions import Overloaded
from tests.support.client_api import PASSWORD, HashSpy, argon2_hash, pbkdf2_hash


@pytest.fixture
def pool() -> Iterator[passwords.HashPool]:
    pool = passwords.HashPool(workers=2, queue_limit=1)
    yield pool
    pool.shutdown()


def wait_until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    done = threading.Event()
    deadline = timeout
    while not predicate() and deadline > 0:
        done.wait(0.01)
        deadline -= 0.01
    assert predicate()


# --- HashPool admission ---

def test_capacity_is_workers_plus_queue_limit(pool: passwords.HashPool) -> None:
    assert pool.capacity == 3
    release = threading.Event()
    futures = [pool.submit(release.wait, 30) for _ in range(3)]
    assert pool.admitted == 3
    with pytest.raises(Overloaded) as info:
        pool.submit(release.wait, 30)  # refused at once, without waiting for a slot
    assert info.value.retry_after >= 1
    assert pool.admitted == 3
    release.set()
    for future in futures:
        assert future.result(timeout=10) is True
    wait_until(lambda: pool.admitted == 0)
    # Freed slots admit new work again.
    assert pool.submit(lambda: 7).result(timeout=10) == 7


def test_a_failing_job_frees_its_slot(pool: passwords.HashPool) -> None:
    def boom() -> None:
        raise ValueError("boom")

    future = pool.submit(boom)
    with pytest.raises(ValueError):
        future.result(timeout=10)
    wait_until(lambda: pool.admitted == 0)


def test_a_zero_queue_limit_admits_only_the_workers() -> None:
    pool = passwords.HashPool(workers=1, queue_limit=0)
    release = threading.Event()
    try:
        busy = pool.submit(release.wait, 30)
        with pytest.raises(Overloaded):
            pool.submit(release.wait, 30)
    finally:
        release.set()
        pool.shutdown()
    assert busy.result(timeout=10) is True


def test_cancelling_a_waiting_task_frees_its_slot_at_once(pool: passwords.HashPool) -> None:
    release = threading.Event()
    running = [pool.submit(release.wait, 30) for _ in range(2)]  # both threads busy

    async def scenario() -> None:
        task = asyncio.ensure_future(pool.run(release.wait, 30))  # queued behind them
        await asyncio.sleep(0.05)
        assert pool.admitted == 3
        with pytest.raises(Overloaded):
            pool.submit(release.wait, 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The queued job never started: its slot is free again right away, while both
        # running jobs still hold theirs.
        assert pool.admitted == 2
        extra = pool.submit(release.wait, 30)
        assert pool.admitted == 3
        release.set()
        assert await asyncio.wrap_future(extra) is True

    try:
        asyncio.run(scenario())
    finally:
        release.set()
    for future in running:
        future.result(timeout=10)
    wait_until(lambda: pool.admitted == 0)


def test_cancelling_a_task_whose_job_runs_keeps_the_slot_until_the_job_ends(pool: passwords.HashPool) -> None:
    started = threading.Event()
    release = threading.Event()

    def job() -> str:
        started.set()
        release.wait(30)
        return "done"

    async def scenario() -> None:
        task = asyncio.ensure_future(pool.run(job))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The CPU is still busy with that hash, so the slot is too.
        assert pool.admitted == 1

    try:
        asyncio.run(scenario())
        assert pool.admitted == 1
    finally:
        release.set()
    wait_until(lambda: pool.admitted == 0)


def test_hashing_threads_run_at_lowered_priority(pool: passwords.HashPool) -> None:
    def priority() -> tuple[int, str]:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), threading.current_thread().name

    nice, name = pool.submit(priority).result(timeout=10)
    assert nice == settings.HASH_THREAD_NICE > os.getpriority(os.PRIO_PROCESS, 0)
    assert name.startswith("argon2")
    # Only the pool's threads: this thread (the event loop's, in a server) keeps its priority.
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < settings.HASH_THREAD_NICE


def test_the_process_pool_follows_the_settings() -> None:
    with override_settings(HASH_WORKERS=1, HASH_QUEUE_LIMIT=2):
        pool = passwords.get_pool()
        assert (pool.workers, pool.queue_limit, pool.capacity) == (1, 2, 3)
        assert passwords.get_pool() is pool
    assert passwords.get_pool() is not pool


# --- async API ---

def test_ahash_makes_a_current_hash_on_a_pool_thread(hash_spy: HashSpy) -> None:
    encoded = asyncio.run(passwords.ahash(PASSWORD))
    assert encoded.startswith("argon2$argon2id$")
    assert passwords.hash_status(encoded) == "current"
    assert len(hash_spy.encodes) == 1
    assert hash_spy.encodes[0].startswith("argon2")


def test_averify_checks_the_password_on_a_pool_thread(hash_spy: HashSpy) -> None:
    encoded = passwords.hash_password(PASSWORD)
    hash_spy.reset()
    ok = asyncio.run(passwords.averify(PASSWORD, encoded))
    assert ok == passwords.Verification(True, None)
    bad = asyncio.run(passwords.averify("not the password", encoded))
    assert bad == passwords.Verification(False, None)
    assert hash_spy.current_verifies == 2
    assert not hash_spy.encodes
    assert all(name.startswith("argon2") for name in hash_spy.threads)


@pytest.mark.parametrize("make_old", [
    pytest.param(lambda: argon2_hash(PASSWORD, time_cost=1, memory_cost=8192), id="argon2-old-cost"),
    pytest.param(lambda: pbkdf2_hash(PASSWORD), id="pbkdf2"),
])
def test_averify_of_an_outdated_hash_offers_the_current_one(make_old) -> None:  # type: ignore[no-untyped-def]
    old = make_old()
    result = asyncio.run(passwords.averify(PASSWORD, old))
    assert result.valid
    assert result.upgraded_hash is not None and passwords.hash_status(result.upgraded_hash) == "current"
    assert asyncio.run(passwords.averify(PASSWORD, result.upgraded_hash)) == passwords.Verification(True, None)
    failed = asyncio.run(passwords.averify("wrong wrong wrong", old))
    assert failed == passwords.Verification(False, None)


@pytest.mark.parametrize("encoded", [
    "!unusable", "", "nonsense$hash", "plain text", "argon2$nonsense", "argon2$argon2id$v=19$m=x,t=2,p=1$c2FsdA$aGFzaA",
    "pbkdf2_sha256$notanumber$salt$hash",
])
def test_averify_of_an_unusable_or_malformed_hash_fails_with_exactly_one_current_verification(
        hash_spy: HashSpy, encoded: str) -> None:
    passwords.dummy_verify("warm-up")
    hash_spy.reset()
    assert asyncio.run(passwords.averify(PASSWORD, encoded)) == passwords.Verification(False, None)
    assert hash_spy.current_verifies == 1 and len(hash_spy.verifies) == 1, hash_spy.verifies
    assert not hash_spy.encodes


def test_adummy_verify_costs_exactly_one_current_verification(hash_spy: HashSpy) -> None:
    passwords.dummy_verify("warm-up")
    hash_spy.reset()
    assert asyncio.run(passwords.adummy_verify(PASSWORD)) is None
    assert hash_spy.current_verifies == 1 and len(hash_spy.verifies) == 1
    assert not hash_spy.encodes
    assert hash_spy.verifies[0][1].startswith("argon2")


def test_the_dummy_hash_follows_the_argon2_settings(hash_spy: HashSpy) -> None:
    with override_settings(ARGON2_TIME_COST=1, ARGON2_MEMORY_COST=8192):
        asyncio.run(passwords.adummy_verify(PASSWORD))  # makes the dummy hash
        asyncio.run(passwords.adummy_verify(PASSWORD))  # verifies against it
        encoded = hash_spy.verifies[-1][0]
        assert "m=8192,t=1" in encoded and passwords.hash_status(encoded) == "current"


def test_async_api_refuses_at_once_when_the_pool_is_full(hash_spy: HashSpy) -> None:
    with override_settings(HASH_WORKERS=1, HASH_QUEUE_LIMIT=0):
        release = threading.Event()
        busy = passwords.get_pool().submit(release.wait, 30)
        try:
            for call in (passwords.ahash(PASSWORD), passwords.averify(PASSWORD, "x"), passwords.adummy_verify(PASSWORD)):
                with pytest.raises(Overloaded):
                    asyncio.run(call)
        finally:
            release.set()
            busy.result(timeout=10)
    assert hash_spy.total == 0


# --- hash_status: current ---

def test_only_hashes_at_the_current_argon2id_parameters_are_current() -> None:
    assert passwords.hash_status(passwords.hash_password(PASSWORD)) == "current"
    assert passwords.hash_status(argon2_hash(PASSWORD, time_cost=1, memory_cost=settings.ARGON2_MEMORY_COST)) != "current"
    assert passwords.hash_status(argon2_hash(PASSWORD, time_cost=settings.ARGON2_TIME_COST, memory_cost=8192)) != "current"
    assert passwords.hash_status(argon2_hash(PASSWORD, time_cost=settings.ARGON2_TIME_COST,
                                                memory_cost=settings.ARGON2_MEMORY_COST, parallelism=2)) != "current"
    assert passwords.hash_status(pbkdf2_hash(PASSWORD)) != "current"
    for junk in ("", "!", "!abc", "argon2$nonsense", "argon2$argon2id$v=19$m=x,t=2,p=1$c2FsdA$aGFzaA",
                 "md5$$" + "0" * 32, "plain text"):
        assert passwords.hash_status(junk) != "current"


def test_argon2i_at_the_current_costs_is_not_current() -> None:
    import argon2

    raw = argon2.PasswordHasher(time_cost=settings.ARGON2_TIME_COST, memory_cost=settings.ARGON2_MEMORY_COST,
                                parallelism=settings.ARGON2_PARALLELISM, type=argon2.Type.I).hash(PASSWORD)
    assert passwords.hash_status("argon2" + raw) != "current"
    result = passwords.verify(PASSWORD, "argon2" + raw)
    assert result.valid and result.upgraded_hash and passwords.hash_status(result.upgraded_hash) == "current"


def test_the_first_dummy_verification_costs_one_argon2_operation_too(hash_spy: HashSpy) -> None:
    with override_settings(ARGON2_TIME_COST=1, ARGON2_MEMORY_COST=8192):  # a fresh dummy hash
        passwords.dummy_verify(PASSWORD)
        assert hash_spy.total == 1
        passwords.dummy_verify(PASSWORD)
        assert hash_spy.total == 2 and hash_spy.current_verifies == 1
