"""Hashing under load through a real single-worker uvicorn: the event loop stays free, and a
full hashing queue is refused at once with 503.

Argon2 is made deliberately slow (ARGON2_TIME_COST/ARGON2_MEMORY_COST) so that a login stays
in flight long enough to observe; the assertions are about order and state, never durations.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from tests.support.live import PASSWORD, signup
from tests.support.servers import LiveServer

SLOW_ARGON2 = {"ARGON2_TIME_COST": "50", "ARGON2_MEMORY_COST": "32768"}
# The throttling window must not interfere with concurrent logins of one account.
NO_THROTTLE = {"THROTTLE_ACCOUNT_IP": "0/0", "THROTTLE_ACCOUNT": "0/0", "THROTTLE_IP": "0/0"}


def _cpu_ticks(pid: int) -> int:
    """User CPU ticks the server process has spent so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    # After the command name, fields[0] is stat field 3, so utime (field 14) is fields[11].
    return int(fields[11])


def _wait_for(predicate: Callable[[], object], what: str, attempts: int = 3000) -> None:
    for _ in range(attempts):
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, object]


class Logins:
    """Concurrent logins, each on its own thread and connection; records completion order."""

    def __init__(self, server: LiveServer, email: str, count: int):
        self.server, self.email, self.count = server, email, count
        self.lock = threading.Lock()
        self.sent = 0
        self.completed: list[tuple[int, Answer]] = []  # (login index, answer), in completion order
        self.first_done = threading.Event()
        self.threads = [threading.Thread(target=self._one, args=(i,), daemon=True) for i in range(count)]

    def _one(self, index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        try:
            body = json.dumps({"email": self.email, "password": PASSWORD})
            conn.request("POST", "/api/v1/auth/login", body=body, headers={"Content-Type": "application/json"})
            with self.lock:
                self.sent += 1  # the whole request is on the wire
            resp = conn.getresponse()
            answer = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(resp.read()))
        finally:
            conn.close()
        with self.lock:
            self.completed.append((index, answer))
        self.first_done.set()

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def all_sent(self) -> bool:
        with self.lock:
            return self.sent == self.count

    def done_count(self) -> int:
        with self.lock:
            return len(self.completed)

    def join(self) -> list[tuple[int, Answer]]:
        for t in self.threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in self.threads), "a login never returned"
        return list(self.completed)


@contextmanager
def _slow_server(live_server_factory, queue_limit: int) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    with live_server_factory(workers=1, HASH_WORKERS="1", HASH_QUEUE_LIMIT=str(queue_limit),
                             **SLOW_ARGON2, **NO_THROTTLE) as server:
        yield server


@pytest.mark.server
def test_healthz_answers_while_logins_are_hashing(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    logins_count = 3
    with _slow_server(live_server_factory, queue_limit=50) as server:
        signup(server, "loop@example.com")
        baseline = _cpu_ticks(server.pid)
        logins = Logins(server, "loop@example.com", logins_count)
        logins.start()
        # Every login request is on the wire, and the idle server has burnt more CPU than
        # receiving them costs (a tick is 10 ms): a first hash is well under way.
        _wait_for(lambda: logins.all_sent() and (_cpu_ticks(server.pid) >= baseline + 5 or logins.done_count()),
                  "hashing started")
        assert logins.done_count() == 0, "the first login finished before it could be observed"

        answered_before_first_login = 0
        with httpx.Client(timeout=30) as probe:
            while not logins.first_done.is_set():
                r = probe.get(f"{server}/healthz", headers={"Connection": "close"})
                assert r.status_code == 200 and r.json() == {"status": "ok"}
                if not logins.first_done.is_set():
                    answered_before_first_login += 1
        completed = logins.join()

    assert [a.status for _, a in completed] == [200] * logins_count
    # A loop blocked by hashing answers only in the gaps between hashes (a handful of times
    # here); a free loop answers all along, hundreds of times during one hash.
    assert answered_before_first_login >= 25, answered_before_first_login


@pytest.mark.server
def test_full_hash_queue_refuses_at_once_with_503(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    with _slow_server(live_server_factory, queue_limit=1) as server:
        signup(server, "busy@example.com")
        logins = Logins(server, "busy@example.com", 3)
        logins.start()
        _wait_for(lambda: logins.done_count() > 0, "a first answer")
        # The first answer is the refusal, while both admitted logins are still in flight
        # (one hashing, one queued): the 503 did not wait for any hash.
        with logins.lock:
            first_index, first = logins.completed[0]
            in_flight = 3 - len(logins.completed)
        assert first.status == 503, first.body
        assert in_flight == 2
        completed = logins.join()
        assert sorted(a.status for _, a in completed) == [200, 200, 503]
        assert completed[0][0] == first_index

        # The refusal is the contract's overloaded error with a usable Retry-After.
        assert first.body["error"] == "overloaded"
        assert set(first.body) == {"error", "message"}
        assert int(first.headers["retry-after"]) >= 1

        # Once the pool drained, logins are admitted again.
        r = httpx.post(f"{server}/api/v1/auth/login", json={"email": "busy@example.com", "password": PASSWORD},
                       timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["token_type"] == "Bearer"
