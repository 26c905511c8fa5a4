"""`python -m loadtests.bench.profile [--seconds S]`: where a login's and a signup's CPU goes on
the server core, hashing aside.

Starts the benchmark's stack (its database and Redis db, one web worker pinned to the server
CPUs, PostgreSQL and Redis pinned to the client CPUs), saturates logins, then signups, with wrk,
and prints:

- the CPU per request of each server thread, read from /proc (the event loop, the hashing
  thread, the rest), against the bare Argon2 time of one hash on the same core;
- a py-spy profile of the event-loop thread during the logins, in microseconds per login, by
  what the time went to (Django's request cycle, uvicorn, psycopg, redis-py, JWT, the event loop's
  own C code and system calls, ...);
- the event loop's CPU per signup with the configured Argon2 parameters and with the cheapest
  ones (t=1, m=8 KiB): what Argon2's working set on the same core costs the rest of a request.

Needs py-spy (requirements-dev.txt) and the right to trace the server (root here).
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from loadtests import stack
from loadtests.bench.config import SEED_PASSWORD, SEED_PREFIX, config_from_args, cpu_list
from loadtests.bench.machine import require_tools, services_pinned, threads_cpu_seconds, worker_pids
from loadtests.bench.run import argon2_rate
from loadtests.bench.wrk import Wrk

# Sample groups, by the first stack frame (from the innermost) whose location contains the key.
GROUPS = [
    ("psycopg (database client)", ("psycopg", "kit/asyncdb.py", "kit/asyncorm.py")),
    ("redis-py (Redis client)", ("redis/", "kit/stores.py")),
    ("JWT signing (PyJWT, cryptography)", ("jwt/", "cryptography/", "tokens/codec.py")),
    ("known-client token (Django signing)", ("accounts/known_clients.py", "django/core/signing.py")),
    ("logging", ("logging/", "kit/logging.py")),
    ("metrics (prometheus-client)", ("prometheus_client/",)),
    ("hash pool and thread hand-offs", ("accounts/passwords.py", "concurrent/futures/", "asgiref/")),
    ("Django request cycle and middleware", ("django/", "kit/middleware.py", "kit/handler.py", "kit/errors.py")),
    ("uvicorn HTTP", ("uvicorn/", "httptools", "kit/door.py", "authsite/asgi.py")),
    ("authsite services and views", ("accounts/", "tokens/", "authsite/")),
]
LOOP_C = "event loop C code and system calls (uvloop, sockets)"
# py-spy's innermost Python frame while the thread runs uvloop's own C code.
LOOP_FRAME = "Runner.run (asyncio/runners.py"


def group_of(frames: list[str]) -> str:
    """The group of one sample (its frames, outermost first)."""
    if not frames or frames[-1].startswith(LOOP_FRAME):
        return LOOP_C
    for frame in reversed(frames):
        for name, keys in GROUPS:
            if any(key in frame for key in keys):
                return name
    return LOOP_C


def loop_profile(raw: Path, loop_tid: int) -> collections.Counter[str]:
    """Samples of the event-loop thread in a py-spy raw profile, by group."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack_text, _, n = line.rpartition(" ")
        frames = stack_text.split(";")
        if f"({loop_tid})" in frames[0]:
            counts[group_of(frames[1:])] += int(n)
    return counts


def per_request(gen: Wrk, pid: int, mode: str, connections: int, seconds: float,
                spy: list[str] | None = None) -> tuple[int, dict[int, float]]:
    """Run wrk; (successful requests, CPU seconds per thread meanwhile)."""
    before = threads_cpu_seconds(pid)
    profiler = subprocess.Popen(spy) if spy else None
    result = gen.run(mode, connections, seconds)
    if profiler:
        profiler.wait()
    after = threads_cpu_seconds(pid)
    done = result.statuses.get("200", 0) + result.statuses.get("201", 0)
    return done, {tid: after[tid] - before.get(tid, 0.0) for tid in after}


def show_threads(title: str, done: int, cpu: dict[int, float], loop: int) -> None:
    print(f"\n{title}: {done} requests; CPU per request by server thread (ms)")
    for tid, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
        if seconds > 0:
            name = "event loop" if tid == loop else f"thread {tid}"
            print(f"  {name:14} {seconds / max(1, done) * 1000:7.2f}")


def main(argv: list[str] | None = None) -> int:
    cfg = config_from_args([*(argv or sys.argv[1:]), "--workers", "1", "--output", ""])
    tools = require_tools()
    spy_bin = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    os.sched_setaffinity(0, cfg.client_cpus)
    stack.start_services(f"{cfg.pg}/{cfg.database}", cfg.redis)
    s = cfg.seconds
    with services_pinned(cfg.client_cpus), tempfile.TemporaryDirectory(prefix="authsite-profile-") as tmp:
        workdir = Path(tmp)
        (workdir / "metrics").mkdir()
        env = cfg.server_env(str(workdir / "metrics"))
        stack.fresh_database(cfg.pg, cfg.database, cfg.redis)
        stack.manage(env, "migrate", "--noinput", "-v", "0")
        stack.manage(env, "seed_users", "--count", str(cfg.seed_users), "--prefix", SEED_PREFIX,
                     "--password", SEED_PASSWORD)
        verify_ms = 1000 / argon2_rate(cfg, tools, "verify")
        hash_ms = 1000 / argon2_rate(cfg, tools, "hash")
        print(f"bare Argon2 on CPU {cpu_list(cfg.server_cpus)}: verify {verify_ms:.2f} ms, hash {hash_ms:.2f} ms")
        signup_loop = {}
        for label, extra in (("configured", {}), ("cheapest", {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8"})):
            with stack.running({**env, **extra}, 1, workdir / f"server-{label}.log",
                               web_prefix=[tools.taskset, "-c", cpu_list(cfg.server_cpus)],
                               celery_prefix=[tools.taskset, "-c", cpu_list(cfg.client_cpus)]) as svc:
                gen = Wrk(cfg, svc.base, tools.wrk, tools.taskset)
                pid = worker_pids(svc.web.pid)[0]
                saturating = 3 * cfg.hash_workers
                gen.run("login", saturating, 2)  # warm up
                if label == "configured":
                    raw = workdir / "loop.txt"
                    spy = [spy_bin, "record", "-p", str(pid), "-d", str(max(1, round(s - 1))), "-r", "1000",
                           "-f", "raw", "-o", str(raw), "--nonblocking", "--threads"]
                    done, cpu = per_request(gen, pid, "login", saturating, s, spy)
                    show_threads("logins", done, cpu, pid)
                    counts = loop_profile(raw, pid)
                    total = sum(counts.values()) or 1
                    per_login_us = cpu[pid] / max(1, done) * 1e6
                    print(f"\nevent-loop CPU per login: {per_login_us:.0f} µs, by what it went to "
                          f"({total} py-spy samples):")
                    for name, n in counts.most_common():
                        print(f"  {n / total * per_login_us:6.0f} µs  {n / total:5.1%}  {name}")
                done, cpu = per_request(gen, pid, "signup", saturating, s)
                show_threads(f"signups, {label} Argon2 parameters", done, cpu, pid)
                signup_loop[label] = cpu[pid] / max(1, done) * 1000
    print(f"\nevent-loop CPU per signup: {signup_loop['configured']:.2f} ms beside Argon2 t=2/m=19456 KiB, "
          f"{signup_loop['cheapest']:.2f} ms beside t=1/m=8 KiB "
          f"({signup_loop['configured'] / signup_loop['cheapest']:.1f}x: the same code, run between hashes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
