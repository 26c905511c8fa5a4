"""A private, throw-away redis-server on a free port, for fault tests that stop, restart or
flush it. Never touches the machine's shared Redis."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from tests.support.servers import free_port


class PrivateRedis:
    """One redis-server process (no persistence) that can be stopped and started on the same port."""

    def __init__(self, port: int, *options: str) -> None:
        self.port = port
        self.options = list(options)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", *self.options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise TimeoutError(f"private redis on {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case it is paused
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): clients time out, and it keeps its data."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def flushall(self) -> None:
        self.client().flushall()


@contextmanager
def private_redis(*options: str) -> Iterator[PrivateRedis]:
    """A private redis-server; `options` are extra command-line settings (e.g. "--maxmemory", "2mb")."""
    server = PrivateRedis(free_port(), *options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
