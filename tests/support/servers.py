"""Start real uvicorn (and Celery) processes against the test database, for end-to-end tests."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """DATABASE_URL of the database pytest-django created for this run."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def server_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    # A server must meet Django's async-safety checks, whatever this test process relaxed.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update({"DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1"})
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


class LiveServer(str):
    """The base URL of a running server (a `str`), plus the process id of its uvicorn parent."""

    pid: int
    port: int

    def __new__(cls, base: str, pid: int, port: int) -> "LiveServer":
        obj = super().__new__(cls, base)
        obj.pid = pid
        obj.port = port
        return obj

    def processes(self) -> set[int]:
        """The uvicorn parent and all its descendants (the worker processes)."""
        return {self.pid} | descendants(self.pid)

    def pid_serving(self, sock: socket.socket) -> int | None:
        """Which process of this server holds the server side of the connected client `sock`."""
        inode = _peer_socket_inode(sock)
        if inode is None:
            return None
        target = f"socket:[{inode}]"
        for pid in self.processes():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
                except OSError:
                    continue
        return None

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                body: bytes | None = None) -> tuple[int, dict[str, str], bytes, int | None]:
        """One request over a NEW connection: (status, headers, body, pid of the worker that served it)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            # The connection is still open (keep-alive), so its server side can be looked up.
            pid = self.pid_serving(conn.sock) if conn.sock is not None else None
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, pid
        finally:
            conn.close()


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, found by walking /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        # Field 4 is the parent pid; the command name (field 2) may contain spaces.
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _peer_socket_inode(sock: socket.socket) -> str | None:
    # /proc/net/tcp lists every IPv4 TCP socket as hex "ADDR:PORT" pairs; the server side of our
    # connection is the one whose local port is the server's and remote port is ours.
    client_port = sock.getsockname()[1]
    server_port = sock.getpeername()[1]
    with open("/proc/net/tcp") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == server_port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                return inode
    return None


@contextmanager
def run_uvicorn(workers: int = 1, env: dict[str, str] | None = None, log: Path | None = None,
                proxy_headers: bool = False) -> Iterator[LiveServer]:
    """Run `uvicorn authsite.asgi:application` on a free port; yield its base URL (a LiveServer).

    With `proxy_headers`, uvicorn rewrites the peer from X-Forwarded-For for every peer (as
    with FORWARDED_ALLOW_IPS='*'), a setup authsite must not let a client exploit."""
    port = free_port()
    proxy = ["--proxy-headers", "--forwarded-allow-ips", "*"] if proxy_headers else ["--no-proxy-headers"]
    cmd = [sys.executable, "-m", "uvicorn", "authsite.asgi:application", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), *proxy, "--no-access-log"]
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env or server_env(), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", proc=proc)
        yield LiveServer(base, proc.pid, port)
    except BaseException:
        if log:
            out.flush()  # type: ignore[union-attr]
            tail = log.read_bytes()[-6000:].decode(errors="replace")
            print(f"--- server output ({log}) ---\n{tail}", file=sys.stderr)
        raise
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        if log:
            out.close()  # type: ignore[union-attr]


@pytest.fixture
def live_server_factory(transactional_db: None, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start uvicorn servers on the test database: `with live_server_factory(workers=2) as url`.

    The server's output goes to a file in the test's tmp_path; its tail is printed when the
    test fails inside the `with` block.
    """
    started = iter(range(1, 1000))

    def factory(workers: int = 1, proxy_headers: bool = False, **env: str):  # type: ignore[no-untyped-def]
        return run_uvicorn(workers=workers, env=server_env(**env), log=tmp_path / f"uvicorn-{next(started)}.log",
                           proxy_headers=proxy_headers)

    return factory
