"""A login whose client disconnects while its hash runs still counts against the throttle
(the CPU was spent); one cancelled before its hash started is given back. Real uvicorn, one
slow hashing thread, a raw socket that hangs up."""

from __future__ import annotations

import re
import socket
import time

import httpx
import orjson
import pytest

from tests.support.servers import LiveServer

A = "/api/v1/auth"
BUSY = re.compile(rb"^authsite_hash_pool_busy_threads\S* (\S+)$", re.M)
QUEUED = re.compile(rb"^authsite_hash_pool_queue_depth\S* (\S+)$", re.M)

pytestmark = pytest.mark.server


def _gauge(server: LiveServer, pattern: re.Pattern[bytes]) -> float:
    body = httpx.get(f"{server}/metrics", timeout=10).content
    return sum(float(value) for value in pattern.findall(body))


def _until(server: LiveServer, pattern: re.Pattern[bytes], value: float, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _gauge(server, pattern) != value:
        assert time.monotonic() < deadline, f"gauge never reached {value}"
        time.sleep(0.02)


def _send_login(server: LiveServer, email: str) -> socket.socket:
    body = orjson.dumps({"email": email, "password": "a wrong guess"})
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"POST " + A.encode() + b"/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return sock


def _login(server: LiveServer, email: str) -> int:
    return httpx.post(f"{server}{A}/login", json={"email": email, "password": "a wrong guess"}, timeout=60).status_code


def test_a_client_that_hangs_up_during_its_hash_still_pays_for_the_guess(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    # A slow hash (several hundred ms) on one thread, and one failure allowed per account+address.
    with live_server_factory(HASH_WORKERS="1", HASH_QUEUE_LIMIT="4", ARGON2_TIME_COST="40",
                             THROTTLE_ACCOUNT_IP="1/900") as server:
        _login(server, "warm@example.com")  # the first failure also makes the dummy hash
        _until(server, BUSY, 0)
        sock = _send_login(server, "target@example.com")
        _until(server, BUSY, 1)  # its hash is running
        sock.close()
        _until(server, BUSY, 0)
        assert _login(server, "target@example.com") == 429


def test_a_client_that_hangs_up_before_its_hash_starts_is_not_counted(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    with live_server_factory(HASH_WORKERS="1", HASH_QUEUE_LIMIT="4", ARGON2_TIME_COST="40",
                             THROTTLE_ACCOUNT_IP="1/900") as server:
        _login(server, "warm@example.com")
        _until(server, BUSY, 0)
        running = _send_login(server, "first@example.com")
        _until(server, BUSY, 1)
        queued = _send_login(server, "second@example.com")
        _until(server, QUEUED, 1)  # waiting for the only thread
        queued.close()
        _until(server, QUEUED, 0)
        running.close()
        _until(server, BUSY, 0)
        assert _login(server, "second@example.com") == 401  # its slot was given back
