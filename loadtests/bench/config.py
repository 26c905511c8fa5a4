"""The benchmark's parameters: command line, the server's environment, the table's list."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from loadtests.stack import ROOT

SEED_PREFIX = "bench-user-"
SEED_PASSWORD = "load-test-password-0123"
SECRET = "bench-only-secret-key-not-for-production-0123456789"
DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"


def parse_cpus(text: str) -> list[int]:
    """CPU numbers from a taskset-style list such as `0-2,5`."""
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def cpu_list(cpus: list[int]) -> str:
    return ",".join(map(str, cpus))


@dataclass
class Config:
    seconds: float
    server_cpus: list[int]
    client_cpus: list[int]
    workers: int
    hash_workers: int
    queue_limit: int
    time_cost: int
    memory_cost: int
    parallelism: int
    database: str
    pg: str
    redis: str
    seed_users: int
    me_connections: int
    output: Path | None
    runs: int = 1
    two_workers: bool = True

    @property
    def hash_threads(self) -> int:
        return self.workers * self.hash_workers

    def server_env(self, multiproc_dir: str) -> dict[str, str]:
        """The environment of the server, its Celery worker and the in-process measurements."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HASH_", "ARGON2_", "THROTTLE_"))}
        env.update({
            "DATABASE_URL": f"{self.pg}/{self.database}", "REDIS_URL": self.redis,
            "DJANGO_SECRET_KEY": SECRET, "WEB_CONCURRENCY": str(self.workers),
            "HASH_WORKERS": str(self.hash_workers), "HASH_QUEUE_LIMIT": str(self.queue_limit),
            "ARGON2_TIME_COST": str(self.time_cost), "ARGON2_MEMORY_COST": str(self.memory_cost),
            "ARGON2_PARALLELISM": str(self.parallelism),
            # The benchmark measures hashing capacity, not the abuse limits.
            "THROTTLE_ACCOUNT_IP": "0/0", "THROTTLE_ACCOUNT": "0/0", "THROTTLE_IP": "0/0",
            "ACCESS_TOKEN_TTL": "3600", "PROMETHEUS_MULTIPROC_DIR": multiproc_dir, "PYTHONUNBUFFERED": "1",
        })
        return env

    def parameters(self) -> list[tuple[str, str]]:
        return [
            ("web workers (WEB_CONCURRENCY)", str(self.workers)),
            ("HASH_WORKERS / HASH_QUEUE_LIMIT per worker", f"{self.hash_workers} / {self.queue_limit}"),
            ("Argon2id t / m (KiB) / p", f"{self.time_cost} / {self.memory_cost} / {self.parallelism}"),
            ("server CPUs (taskset -c)", cpu_list(self.server_cpus)),
            ("generator, probes, Celery CPUs", cpu_list(self.client_cpus)),
            ("seconds per measurement (BENCH_SECONDS)", f"{self.seconds:g}"),
            ("seeded users", str(self.seed_users)),
            ("throttling", "disabled (0/0): capacity, not abuse limits, is measured"),
            ("load", "closed loop: each wrk connection sends its next request as soon as the answer "
                     "arrives (a refused login is resent at once), except the probes and overload runs, "
                     "whose connections pause between requests"),
        ]


def config_from_args(argv: list[str] | None = None) -> Config:
    cpus = sorted(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench",
                                     description="authsite benchmark: ratios against this machine's limits")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement (BENCH_SECONDS)")
    parser.add_argument("--server-cpus", default=cpu_list(cpus[: max(1, len(cpus) // 2)]))
    parser.add_argument("--client-cpus", default=cpu_list(cpus[max(1, len(cpus) // 2):] or cpus))
    parser.add_argument("--workers", type=int, default=0, help="WEB_CONCURRENCY (default: server CPUs)")
    parser.add_argument("--hash-workers", type=int, default=1)
    parser.add_argument("--queue-limit", type=int, default=0, help="HASH_QUEUE_LIMIT (default 4 x hash workers)")
    parser.add_argument("--time-cost", type=int, default=2)
    parser.add_argument("--memory-cost", type=int, default=19456)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--database", default="authsite_bench")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--seed-users", type=int, default=2000)
    parser.add_argument("--me-connections", type=int, default=16)
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT),
                        help="file whose bench section is rewritten; '' to skip writing")
    parser.add_argument("--runs", type=int, default=1,
                        help="whole runs; each row of the table is the run with the median ratio (BENCH_RUNS)")
    parser.add_argument("--no-two-workers", dest="two_workers", action="store_false",
                        help="skip the second deployment (one worker per core, generator on the same cores)")
    args = parser.parse_args(argv)
    server = parse_cpus(args.server_cpus)
    return Config(seconds=args.seconds, server_cpus=server, client_cpus=parse_cpus(args.client_cpus),
                  workers=args.workers or len(server), hash_workers=args.hash_workers,
                  queue_limit=args.queue_limit or 4 * args.hash_workers, time_cost=args.time_cost,
                  memory_cost=args.memory_cost, parallelism=args.parallelism, database=args.database,
                  pg=args.pg, redis=args.redis, seed_users=args.seed_users, me_connections=args.me_connections,
                  output=Path(args.output) if args.output else None, runs=max(1, args.runs),
                  two_workers=args.two_workers)
