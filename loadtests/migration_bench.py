"""Benchmark of user migration (`make bench-migration`): import rate and wrap throughput.

- Import rate: `manage.py import_users` of a generated JSON Lines file of legacy hashes
  (every bare and Django format, 100,000 rows by default) into an empty database.
- Wrap throughput: `manage.py rehash_passwords --wrap --wait` on weak hashes, with a Celery
  worker (queue bulk) of concurrency = cores, against the Argon2 hash-bound limit measured in
  the same run: cores / seconds per Argon2id hash at the configured parameters.

It drops and recreates its own database and flushes its own Redis db, prints the table and
rewrites the text between the `migration-bench:start` / `migration-bench:end` markers of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import argon2
import bcrypt

from loadtests.stack import ROOT, fresh_database

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- migration-bench:start -->", "<!-- migration-bench:end -->"
WRAP_TARGET = 0.85


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def legacy_rows(count: int) -> list[str]:
    """`count` JSON lines cycling through the legacy formats. Slow formats reuse a few
    precomputed hashes (an import computes nothing, so their cost does not matter here)."""
    password = "correct horse battery staple"
    slow = [
        bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode(),
        "argon2" + argon2.PasswordHasher(memory_cost=19456, time_cost=2).hash(password),
        argon2.PasswordHasher(memory_cost=65536, time_cost=3, parallelism=4).hash(password),
        "pbkdf2_sha256$600000$" + "s4lt" + "$" + base64.b64encode(
            hashlib.pbkdf2_hmac("sha256", password.encode(), b"s4lt", 600000)).decode(),
    ]
    lines = []
    for i in range(count):
        salt = secrets.token_hex(4)
        shape = i % 8
        if shape == 0:
            value = f"md5${salt}${hashlib.md5((salt + password).encode()).hexdigest()}"
        elif shape == 1:
            value = f"sha1${salt}${hashlib.sha1((salt + password).encode()).hexdigest()}"
        elif shape == 2:
            value = hashlib.md5(f"{password}{i}".encode()).hexdigest()
        elif shape == 3:
            value = hashlib.sha1(f"{password}{i}".encode()).hexdigest()
        else:
            value = slow[shape - 4]
        lines.append(json.dumps({"email": f"user{i}@example.com", "password_hash": value,
                                 "date_joined": "2021-03-04T05:06:07Z"}))
    return lines


def run(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, result.stdout


def _hash_for(args: tuple[int, int, int, float]) -> tuple[int, float]:
    memory, time_cost, parallelism, seconds = args
    hasher = argon2.PasswordHasher(memory_cost=memory, time_cost=time_cost, parallelism=parallelism)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        hasher.hash(secrets.token_urlsafe(12))
        count += 1
    return count, time.perf_counter() - started


def seconds_per_hash(memory: int, time_cost: int, parallelism: int, processes: int, seconds: float = 8.0) -> float:
    """Seconds one Argon2id hash takes while `processes` processes hash side by side (as the
    worker's children do during the job): cores / this is the hash-bound limit."""
    with multiprocessing.Pool(processes) as pool:
        results = pool.map(_hash_for, [(memory, time_cost, parallelism, seconds)] * processes)
    return statistics.mean(elapsed / count for count, elapsed in results)


def wrap_run(env: dict[str, str], users: int, log: Path) -> dict[str, float]:
    """Seed `users` weak hashes, wrap them with a worker of concurrency = cores; measure."""
    # TRUNCATE: deleting through the ORM would announce every deletion (sessions, caches).
    seed = ("from accounts.models import User; from django.db import connection; import hashlib, secrets; "
            "connection.cursor().execute('TRUNCATE accounts_user CASCADE'); "
            f"n = {users}; "
            "User.objects.bulk_create([User(email=f'w{i}@example.com', password=(lambda s: "
            "f'md5${s}$' + hashlib.md5((s + f'pw {i}').encode()).hexdigest())(secrets.token_hex(4))) "
            "for i in range(n)], batch_size=2000)")
    run(env, "shell", "-c", seed)
    cores = _cores()
    memory, time_cost, parallelism = (int(env.get(k, d)) for k, d in (
        ("ARGON2_MEMORY_COST", "19456"), ("ARGON2_TIME_COST", "2"), ("ARGON2_PARALLELISM", "1")))
    with open(log, "ab") as out:
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "authsite", "worker", "-Q", "bulk",
                                   "--pool", "prefork", "--concurrency", str(cores), "--loglevel", "WARNING",
                                   "--without-gossip", "--without-mingle"],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(3)  # the worker connects and forks its children
        before = seconds_per_hash(memory, time_cost, parallelism, cores)
        wall, _ = run(env, "rehash_passwords", "--wrap", "--wait")
        # Measured before and after the job, in the same conditions as the job.
        per_hash = (before + seconds_per_hash(memory, time_cost, parallelism, cores)) / 2
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    _, text = run(env, "shell", "-c", "from accounts.job_models import Job; j = Job.objects.get(); "
                                      "print((j.finished_at - j.started_at).total_seconds(), j.done, j.failed)")
    job_seconds, done, failed = text.strip().splitlines()[-1].split()
    limit = cores / per_hash
    throughput = int(done) / float(job_seconds)
    return {"users": users, "done": int(done), "failed": int(failed), "job_seconds": float(job_seconds),
            "wall_seconds": wall, "per_hash": per_hash, "limit": limit, "throughput": throughput,
            "ratio": throughput / limit, "cores": cores, "memory": memory, "time_cost": time_cost}


def render(rows: int, import_seconds: float, import_out: str, wrap: dict[str, float]) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    met = "yes" if wrap["ratio"] >= WRAP_TARGET else "**no**"
    return "\n".join([
        f"Produced by `make bench-migration` (`python -m loadtests.migration_bench`) on {now}.",
        f"Machine: {platform.processor() or platform.machine()}, {wrap['cores']} cores, Python "
        f"{platform.python_version()}, Linux {platform.release()}.",
        "",
        "| figure | measured | limit (same run) | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| import rate, {rows} rows (`import_users FILE`) | {rows / import_seconds:,.0f} rows/s "
        f"({import_seconds:.1f} s) | 60 s for 100,000 rows | {import_seconds / 60 * 100_000 / rows:.2f} | ≤ 1 | "
        f"{'yes' if import_seconds / rows * 100_000 <= 60 else '**no**'} |",
        f"| wrap throughput, {int(wrap['users'])} weak hashes, worker concurrency {wrap['cores']} | "
        f"{wrap['throughput']:.1f} users/s | {wrap['limit']:.1f} Argon2id hash/s ({wrap['cores']} cores / "
        f"{wrap['per_hash'] * 1000:.1f} ms) | {wrap['ratio']:.2f} | ≥ {WRAP_TARGET} | {met} |",
        "",
        "Parameters and details:",
        "",
        f"- Argon2id t / m (KiB) / p: {wrap['time_cost']} / {wrap['memory']} / 1; WRAP_BATCH_SIZE default",
        f"- import summary: {import_out.strip().splitlines()[0]}",
        f"- wrap: {wrap['done']} done, {wrap['failed']} failed in {wrap['job_seconds']:.1f} s of job time "
        f"(first batch started to last batch committed); {wrap['wall_seconds']:.1f} s for the whole command "
        "(inventory, scan, enqueue, wait, inventory)",
        "- the limit: Argon2id hashes in as many processes as cores, side by side for 8 s (the worker idle), "
        "before and after the job, averaged: cores / seconds per hash",
    ])


def write_doc(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{START}\n{section}\n{END}"
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n## Latest `make bench-migration` run\n\n" + block + "\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--wrap-users", type=int, default=2000)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server")
    parser.add_argument("--database", default="authsite_bench_migration", help="dropped and recreated")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="Redis db (flushed)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    workdir = ROOT / "reports"
    workdir.mkdir(exist_ok=True)
    fresh_database(args.pg, args.database, args.redis)
    env = {**os.environ, "DATABASE_URL": f"{args.pg}/{args.database}", "REDIS_URL": args.redis,
           "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "0" * 40,
           "PYTHONUNBUFFERED": "1"}
    run(env, "migrate", "--noinput")
    source = workdir / "migration-bench.jsonl"
    source.write_text("\n".join(legacy_rows(args.rows)) + "\n")
    import_seconds, import_out = run(env, "import_users", str(source))
    print(import_out.strip(), f"({import_seconds:.1f} s)", flush=True)
    wrap = wrap_run(env, args.wrap_users, workdir / "migration-bench-worker.log")
    section = render(args.rows, import_seconds, import_out, wrap)
    print(section)
    if not args.no_doc:
        write_doc(section)


if __name__ == "__main__":
    main()
