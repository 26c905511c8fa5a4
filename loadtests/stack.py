"""A throwaway authsite stack for `make bench` and `make loadtest`: its own database and Redis
db, a web server and a Celery worker, started and stopped by the caller.

It never stops PostgreSQL or Redis (they may serve others); it drops and recreates only the
database it is given, and flushes only the Redis db it is given.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_services(database_url: str, redis_url: str) -> None:
    """Make the PostgreSQL and Redis named by these URLs ready, as `make test` does
    (scripts/services.sh: started if stopped, the database created)."""
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    subprocess.run([str(ROOT / "scripts" / "services.sh")], env=env, check=True, stdout=subprocess.DEVNULL)


def fresh_database(pg: str, database: str, redis_url: str) -> None:
    """Drop and recreate `database` on the server `pg` (postgres://user@host:port) and flush
    the Redis db `redis_url`."""
    import psycopg
    import redis

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    redis.Redis.from_url(redis_url).flushdb()


def manage(env: dict[str, str], *args: str) -> None:
    """Run `manage.py ARGS` in the stack's environment; its output is not shown."""
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def request(base: str, method: str, path: str, body: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None, conn: http.client.HTTPConnection | None = None
            ) -> tuple[int, bytes]:
    """One JSON request to `base` (http://host:port): (status, body). Reuses `conn` if given."""
    host, port = base.removeprefix("http://").split(":")
    own = conn is None
    conn = conn or http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait until the server answers /readyz with 200; fail if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited during startup")
        try:
            if request(base, "GET", "/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server not ready")


@dataclass
class Stack:
    base: str
    web: subprocess.Popen[bytes]
    celery: subprocess.Popen[bytes]
    log: Path


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # Each process leads its own session, so the whole group (uvicorn's workers too) goes.
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _spawn(prefix: Sequence[str], args: Sequence[str], env: dict[str, str], out: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*prefix, sys.executable, *args], cwd=ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def running(env: dict[str, str], workers: int | None, log: Path, web_prefix: Sequence[str] = (),
            celery_prefix: Sequence[str] = ()) -> Iterator[Stack]:
    """Run the web server (`workers` processes, None: the service's default, on a free loopback
    port) and a Celery worker, both logging to `log`, until the block ends. The prefixes go
    before each command (taskset)."""
    port = free_port()
    serve = ["-m", "authsite.serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers is not None:
        serve += ["--workers", str(workers)]
    with open(log, "wb") as out:
        web = _spawn(web_prefix, serve, env, out)
        celery = _spawn(celery_prefix, ["-m", "celery", "-A", "authsite", "worker", "--pool", "solo",
                                        "--loglevel", "WARNING"], env, out)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, web)
            yield Stack(base, web, celery, log)
        finally:
            for proc in (web, celery):
                _stop(proc)
