"""A private, throw-away PostgreSQL cluster on a free port, for fault tests that restart it.

Runs as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).
Never touches the machine's shared PostgreSQL.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.support.servers import ROOT, free_port


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    return Path(initdb).parent


class PrivatePostgres:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.bin = _bin_dir()
        self.as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["su", "postgres", "-c", shlex.join(cmd)]
        subprocess.run(cmd, check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def initdb(self) -> None:
        self._run("initdb", "-D", str(self.data_dir), "-A", "trust", "-U", "postgres", "--no-sync")

    def pg_ctl(self, action: str, *extra: str) -> None:
        opts = f"-p {self.port} -k {self.data_dir.parent} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", opts, "-w", "-t", "30",
                  "-l", str(self.data_dir.parent / "postgres.log"), action, *extra)

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def migrate(self, env: dict[str, str]) -> None:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, check=True,
                       env={**env, "DATABASE_URL": self.url}, stdout=subprocess.DEVNULL, timeout=120)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    parent = Path(tempfile.mkdtemp(prefix="authsite-pg-"))
    try:
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(parent, pg.pw_uid, pg.pw_gid)
        server = PrivatePostgres(parent / "data", free_port())
        server.initdb()
        server.start()
        try:
            yield server
        finally:
            try:
                server.stop()
            except subprocess.CalledProcessError:
                pass
    finally:
        shutil.rmtree(parent, ignore_errors=True)
