"""Smoke tests of the benchmark harness's parts (tiny runs; no speed is asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from loadtests import bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cfg() -> bench.Config:
    return bench.config_from_args(["--seconds", "1", "--server-cpus", "0", "--client-cpus", "0",
                                   "--seed-users", "3", "--memory-cost", "1024", "--time-cost", "1",
                                   "--output", ""])


def test_config_defaults_split_the_cores_and_disable_throttling(cfg: bench.Config) -> None:
    assert bench.parse_cpus("0-2,5") == [0, 1, 2, 5]
    default = bench.config_from_args([])
    assert set(default.server_cpus).isdisjoint(default.client_cpus) or len(default.server_cpus) == 1
    assert default.workers == len(default.server_cpus) and default.queue_limit == 4 * default.hash_workers
    assert default.output == ROOT / "docs" / "benchmarks.md"
    env = cfg.server_env("/tmp/m")
    assert env["THROTTLE_IP"] == env["THROTTLE_ACCOUNT"] == env["THROTTLE_ACCOUNT_IP"] == "0/0"
    assert env["ARGON2_MEMORY_COST"] == "1024" and env["WEB_CONCURRENCY"] == "1"
    assert env["DATABASE_URL"].endswith("/authsite_bench") and cfg.output is None


def test_bare_argon2_limit_is_measured(cfg: bench.Config) -> None:
    cfg.seconds = 0.3
    assert bench.argon2_rate(cfg, "verify") > 0
    assert bench.argon2_rate(cfg, "hash") > 0


def test_wrk_script_counts_statuses_for_each_mode(live_server_factory, cfg: bench.Config) -> None:  # type: ignore[no-untyped-def]
    call_command("seed_users", "--count", "3", "--prefix", bench.SEED_PREFIX, "--password", bench.SEED_PASSWORD)
    wrk = bench.ensure_wrk()
    with live_server_factory(workers=1, THROTTLE_IP="0/0", THROTTLE_ACCOUNT="0/0", THROTTLE_ACCOUNT_IP="0/0",
                             HASH_QUEUE_LIMIT="16") as base:
        gen = bench.Wrk(cfg, base, wrk)
        health = gen.run("get", 2, 1, "/healthz")
        login = gen.run("login", 1, 1)
        signup = gen.run("signup", 1, 1)
        paced = gen.run("get", 1, 1, "/healthz", delay_ms=100)
        status, _ = bench.request(base, "POST", "/api/v1/auth/login",
                                  {"email": f"{bench.SEED_PREFIX}2@example.com", "password": bench.SEED_PASSWORD})
    assert set(health.statuses) == {"200"} and health.requests > 0 and health.p99_ms > 0
    assert set(login.statuses) == {"200"}, login.statuses  # seeded users log in
    assert set(signup.statuses) == {"201"}, signup.statuses  # every signup email is new
    assert paced.requests <= 15  # BENCH_DELAY_MS paces each connection
    assert status == 200
    assert health.cpu_seconds >= 0 and len(gen.commands) == 4


def test_report_renders_a_markdown_table(cfg: bench.Config) -> None:
    report = bench.Report(cfg, rows=[bench.Row("login throughput", "45/s", "50/s", 0.9, "≥ 0.90", True),
                                     bench.Row("/me", "100/s", "200/s", 0.5, "≥ 0.85", False)],
                          notes=["a note"], generator_cpu={"login": 0.05}, commands=["wrk -t1 ..."])
    text = bench.render(report)
    assert "| login throughput | 45/s | 50/s | 0.90 | ≥ 0.90 | yes |" in text
    assert "| /me | 100/s | 200/s | 0.50 | ≥ 0.85 | **no** |" in text
    assert "cores" in text and "wrk -t1" in text and "a note" in text
    assert "- **/me** (0.50, target ≥ 0.85): /me does one Redis round trip" in text  # missed: explained
    assert "- **login throughput**" not in text  # met: nothing to explain


def test_combine_takes_the_median_run_per_row() -> None:
    cfg = bench.config_from_args(["--output", ""])

    def report(ratios: tuple[float, float]) -> bench.Report:
        rows = [bench.Row("login throughput", f"{ratios[0]}", "50/s", ratios[0], "≥ 0.90", ratios[0] >= 0.9),
                bench.Row("/me", f"{ratios[1]}", "200/s", ratios[1], "≥ 0.85", ratios[1] >= 0.85)]
        return bench.Report(cfg, rows=rows, notes=["n"], generator_cpu={"login": ratios[0] / 10})

    combined = bench.combine([report((0.7, 0.95)), report((0.95, 0.80)), report((0.85, 0.88))])
    assert [row.ratio for row in combined.rows] == [0.85, 0.88]
    assert [row.ok for row in combined.rows] == [False, True]
    assert combined.generator_cpu["login"] == 0.095
    assert "0.70 / 0.95 / 0.85" in combined.notes[0]
