"""`make loadtest` (`python -m loadtests.loadtest`): a bounded headless Locust run against a
server of its own.

It makes PostgreSQL and Redis ready as `make test` does (scripts/services.sh), recreates its
own database (authsite_loadtest) and flushes its own Redis db, migrates, seeds users, starts
the web server and a Celery worker on a free loopback port, runs Locust
(loadtests/locustfile.py), stops what it started and exits with Locust's status: 0 when no
request failed. Reports (CSV, HTML) and the server's log go to reports/.

The load-test configuration is the service's defaults with one change, THROTTLE_IP=0/0 (the
per-IP limit off; it also bounds signups per IP). Every simulated user connects from
127.0.0.1, so a per-IP limit would count them all as one client: the wrong-password users
alone push that address over its limit within the first minute, and from then on every login
and signup from it, a developer's own included, is refused for the limit's window. The
per-account and account+IP limits keep their defaults, because the simulated users are
distinct accounts, as real ones are. The calling shell's environment is not passed on (only
PATH, HOME, the locale and the like), so the run is the same on every machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from loadtests import stack

SECRET = "loadtest-only-secret-key-not-for-production-0123456789"
# The only variables taken from the calling shell: any other may configure the service, and the
# run must not depend on what a shell happens to export.
PASSED_THROUGH = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
# What the load test changes in the service's defaults, and nothing else (see the docstring).
LOADTEST_SETTINGS = {"THROTTLE_IP": "0/0"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.loadtest",
                                     description="headless Locust run against a load-test server of its own")
    parser.add_argument("classes", nargs="*", default=["MixedUser"], help="Locust user classes (default MixedUser)")
    parser.add_argument("--users", type=int, default=20, help="concurrent simulated users (LOCUST_USERS)")
    parser.add_argument("--spawn-rate", type=float, default=5, help="users started per second (LOCUST_SPAWN_RATE)")
    parser.add_argument("--run-time", default="60s", help="length of the run, e.g. 60s or 5m (LOCUST_RUN_TIME)")
    parser.add_argument("--seed-users", type=int, default=1000, help="seeded accounts (LOCUST_SEED_USERS)")
    parser.add_argument("--workers", type=int, default=0, help="web worker processes (default: the service's)")
    parser.add_argument("--database", default="authsite_loadtest", help="its own database, dropped and recreated")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="its own Redis db, flushed")
    parser.add_argument("--reports", default=str(stack.ROOT / "reports"), help="directory for reports and the log")
    return parser.parse_args(argv)


def server_env(args: argparse.Namespace, var_dir: str) -> dict[str, str]:
    """The load-test server's environment: the service's defaults, its own stores, LOADTEST_SETTINGS."""
    env = {k: v for k, v in os.environ.items() if k in PASSED_THROUGH}
    env.update({
        "DATABASE_URL": f"{args.pg}/{args.database}", "REDIS_URL": args.redis, "DJANGO_SECRET_KEY": SECRET,
        "AUTHSITE_VAR_DIR": var_dir, "PYTHONUNBUFFERED": "1", **LOADTEST_SETTINGS,
    })
    return env


def locust_command(args: argparse.Namespace, base: str, reports: Path) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(stack.ROOT / "loadtests" / "locustfile.py"), "--headless",
            "-u", str(args.users), "-r", str(args.spawn_rate), "--run-time", args.run_time, "--host", base,
            "--seed-count", str(args.seed_users), "--stop-timeout", "5",
            "--csv", str(reports / "locust"), "--html", str(reports / "locust.html"), *args.classes]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reports = Path(args.reports)
    reports.mkdir(parents=True, exist_ok=True)
    stack.start_services(f"{args.pg}/{args.database}", args.redis)
    with tempfile.TemporaryDirectory(prefix="authsite-loadtest-") as var_dir:
        env = server_env(args, var_dir)
        print(f"load test: database {args.database}, Redis {args.redis}, "
              f"changed settings: {LOADTEST_SETTINGS}", flush=True)
        stack.fresh_database(args.pg, args.database, args.redis)
        stack.manage(env, "migrate", "--noinput", "-v", "0")
        stack.manage(env, "seed_users", "--count", str(args.seed_users))
        log = reports / "loadtest-server.log"
        with stack.running(env, args.workers or None, log) as svc:
            print(f"server at {svc.base}; Locust for {args.run_time} with {args.users} users", flush=True)
            status = subprocess.run(locust_command(args, svc.base, reports), cwd=stack.ROOT).returncode
    verdict = "passed: no failed requests" if status == 0 else f"FAILED (Locust exit status {status})"
    print(f"load test {verdict}. Reports: {reports}/locust_stats.csv, locust_failures.csv, locust.html; "
          f"server log: {log}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
