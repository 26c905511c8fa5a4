"""The benchmark's parts work (tiny runs; no speed is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.management import call_command

from loadtests import stack
from loadtests.bench import config, machine, report, run, token_micro
from loadtests.bench.config import SEED_PASSWORD, SEED_PREFIX, Config
from loadtests.bench.wrk import Wrk, WrkResult

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cfg() -> Config:
    return config.config_from_args(["--seconds", "1", "--server-cpus", "0", "--client-cpus", "0",
                                    "--seed-users", "3", "--memory-cost", "1024", "--time-cost", "1",
                                    "--output", ""])


@pytest.fixture
def tools() -> machine.Tools:
    return machine.require_tools()


def test_config_defaults_split_the_cores_and_disable_throttling(cfg: Config) -> None:
    assert config.parse_cpus("0-2,5") == [0, 1, 2, 5]
    default = config.config_from_args([])
    assert set(default.server_cpus).isdisjoint(default.client_cpus) or len(default.server_cpus) == 1
    assert default.workers == len(default.server_cpus) and default.queue_limit == 4 * default.hash_workers
    assert default.output == ROOT / "docs" / "benchmarks.md"
    env = cfg.server_env("/tmp/m")
    assert env["THROTTLE_IP"] == env["THROTTLE_ACCOUNT"] == env["THROTTLE_ACCOUNT_IP"] == "0/0"
    assert env["ARGON2_MEMORY_COST"] == "1024" and env["WEB_CONCURRENCY"] == "1"
    assert env["DATABASE_URL"].endswith("/authsite_bench") and cfg.output is None


def test_missing_tools_are_named_with_the_install_command(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a directory with neither wrk nor taskset
    with pytest.raises(machine.MissingTools) as caught:
        machine.require_tools()
    assert "wrk, taskset" in str(caught.value) and "apt-get install -y util-linux wrk" in str(caught.value)


def test_the_program_stops_before_anything_when_wrk_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "loadtests.bench", "--output", ""], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "sudo apt-get install -y util-linux wrk" in result.stderr
    assert "preparing database" not in result.stdout  # nothing was started


def test_bare_argon2_limit_is_measured(cfg: Config, tools: machine.Tools) -> None:
    cfg.seconds = 0.3
    assert run.argon2_rate(cfg, tools, "verify") > 0
    assert run.argon2_rate(cfg, tools, "hash") > 0


def test_token_check_costs_are_measured_in_process_and_as_a_program() -> None:
    costs = token_micro.measure(100)
    assert set(costs) == {"full_us", "hit_us"} and costs["full_us"] > 0 and costs["hit_us"] > 0
    out = subprocess.run([sys.executable, "-m", "loadtests.bench.token_micro", "100"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert set(json.loads(out)) == {"full_us", "hit_us"}


def test_wrk_script_counts_statuses_for_each_mode(live_server_factory, cfg: Config,  # type: ignore[no-untyped-def]
                                                  tools: machine.Tools) -> None:
    call_command("seed_users", "--count", "3", "--prefix", SEED_PREFIX, "--password", SEED_PASSWORD)
    with live_server_factory(workers=1, THROTTLE_IP="0/0", THROTTLE_ACCOUNT="0/0", THROTTLE_ACCOUNT_IP="0/0",
                             HASH_QUEUE_LIMIT="16") as base:
        gen = Wrk(cfg, base, tools.wrk, tools.taskset)
        health = gen.run("get", 2, 1, "/healthz")
        login = gen.run("login", 1, 1)
        signup = gen.run("signup", 1, 1)
        paced = gen.run("get", 1, 1, "/healthz", delay_ms=100)
        status, _ = stack.request(base, "POST", "/api/v1/auth/login",
                                  {"email": f"{SEED_PREFIX}2@example.com", "password": SEED_PASSWORD})
    assert set(health.statuses) == {"200"} and health.requests > 0 and health.p99_ms > 0
    assert set(login.statuses) == {"200"}, login.statuses  # seeded users log in
    assert set(signup.statuses) == {"201"}, signup.statuses  # every signup email is new
    assert paced.requests <= 15  # BENCH_DELAY_MS paces each connection
    assert status == 200
    assert health.cpu_seconds >= 0 and len(gen.commands) == 4
    assert "-s loadtests/bench/wrk.lua" in gen.commands[0]


def wrk_result(statuses: dict[str, int], seconds: float = 10.0, p99_ms: float = 2.0) -> WrkResult:
    return WrkResult(sum(statuses.values()), seconds, 1.0, p99_ms, statuses, 0, 0.5, "wrk")


def test_rows_are_ratios_against_limits_of_the_same_run(cfg: Config) -> None:
    m = run.Measurements(
        verify_rate=50.0, hash_rate=40.0, tokens={"full_us": 150.0, "hit_us": 1.5},
        wrk={"idle": wrk_result({"200": 100}, p99_ms=2.0), "trivial": wrk_result({"200": 10000}),
             "me": wrk_result({"200": 9300}), "login": wrk_result({"200": 470}),
             "signup": wrk_result({"201": 300, "503": 1}), "busy": wrk_result({"200": 100}, p99_ms=5.0),
             "flood32": wrk_result({"200": 400, "503": 100000}), "busy32": wrk_result({"200": 100}, p99_ms=12.0),
             "flood2": wrk_result({"200": 470, "503": 470}), "flood10": wrk_result({"200": 470, "503": 4230})},
        samples=[(503, 0.002), (503, 0.004), (200, 0.05)], idle_rss={7: 80 * 1024}, peak_rss={7: 100 * 1024},
        load_before=0.5, load_after=0.7,
        # 2 ms of loop CPU per login: the flood's 400 logins took 0.8 s of its 8.8 s.
        loop_cpu={"login": 0.94, "login:other": 0.047, "login:hash": 9.87, "flood32": 8.8},
        two={"trivial": wrk_result({"200": 20000}), "me": wrk_result({"200": 17000}),
             "login": wrk_result({"200": 900}), "signup": wrk_result({"201": 700})})
    rep = run.build_report(cfg, m, ["wrk -t1 ..."])
    two = replace(cfg, server_cpus=[0], client_cpus=[1])
    rep = run.build_report(two, m, ["wrk -t1 ..."])
    assert [(row.figure.split(" (")[0], round(row.ratio, 3)) for row in rep.rows] == [
        ("login throughput at saturation", 0.94), ("signup throughput at saturation", 0.75),
        ("/me throughput, warm token cache", 0.93), ("/healthz p99, 32 connections flooding /login closed-loop", 1.2),
        ("event-loop CPU per 503 refusal, pool full", 0.08), ("/healthz p99, logins offered at 2.0x capacity", 2.5),
        ("median time to 503, queue full", 3.0), ("peak RSS per worker, 10x login overload", round(100 / 81, 3)),
        ("token verification, cache hit", 0.01), ("2 workers on 2 cores: login throughput", 0.9),
        ("2 workers on 2 cores: signup throughput", 0.875), ("2 workers on 2 cores: /me throughput", 0.85)]
    assert [row.ok for row in rep.rows] == [True, False, True, False, True, True, True, False, True, False, False,
                                            False]
    assert rep.rows[3].limit == "max(10 ms, 2 × 2.00 ms idle p99)"
    assert "non-success answers during saturation runs: {'signup': {'201': 300, '503': 1}}" in rep.notes
    assert rep.notes[2] == ("server CPU per login at saturation: event-loop thread 2.00 ms (HTTP, Django, database and "
                            "Redis clients, JWT), other threads 0.10 ms, hashing thread 21.00 ms (bare process: "
                            "20.00 ms per verification)")
    assert list(rep.generator_cpu) == ["idle probe", "/healthz", "/me", "login", "signup", "32-connection flood",
                                       "flood probe", "2x flood", "2x probe", "10x flood"]


def test_report_renders_a_markdown_table(cfg: Config) -> None:
    rep = run.Report(cfg, rows=[run.Row("login throughput", "45/s", "50/s", 0.9, "≥ 0.90", True),
                                run.Row("/me", "100/s", "200/s", 0.5, "≥ 0.85", False)],
                     notes=["a note"], generator_cpu={"login": 0.05}, commands=["wrk -t1 ..."])
    text = report.render(rep)
    assert "| login throughput | 45/s | 50/s | 0.90 | ≥ 0.90 | yes |" in text
    assert "| /me | 100/s | 200/s | 0.50 | ≥ 0.85 | **no** |" in text
    assert "cores" in text and "wrk -t1" in text and "a note" in text
    assert "- **/me** (0.50, target ≥ 0.85): /me does one Redis round trip" in text  # missed: explained
    assert "- **login throughput**" not in text  # met: nothing to explain
    assert report.START not in text and report.END not in text


def test_combine_takes_the_median_run_per_row() -> None:
    cfg = config.config_from_args(["--output", ""])

    def one(ratios: tuple[float, float]) -> run.Report:
        rows = [run.Row("login throughput", f"{ratios[0]}", "50/s", ratios[0], "≥ 0.90", ratios[0] >= 0.9),
                run.Row("/me", f"{ratios[1]}", "200/s", ratios[1], "≥ 0.85", ratios[1] >= 0.85)]
        return run.Report(cfg, rows=rows, notes=["n"], generator_cpu={"login": ratios[0] / 10})

    combined = run.combine([one((0.7, 0.95)), one((0.95, 0.80)), one((0.85, 0.88))])
    assert [row.ratio for row in combined.rows] == [0.85, 0.88]
    assert [row.ok for row in combined.rows] == [False, True]
    assert combined.generator_cpu["login"] == 0.095
    assert "0.70 / 0.95 / 0.85" in combined.notes[0]


def test_writing_replaces_only_the_bench_section(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.md"
    path.write_text(f"# Benchmarks\n\nIntro.\n\n## Latest\n\n{report.START}\nold table\n{report.END}\n\n"
                    "## Migration benchmark\n\nkept by hand\n")
    report.write_section(path, "new table\n")
    assert path.read_text() == (f"# Benchmarks\n\nIntro.\n\n## Latest\n\n{report.START}\nnew table\n{report.END}\n\n"
                                "## Migration benchmark\n\nkept by hand\n")
    report.write_section(path, "newer table\n")
    assert path.read_text().count("table") == 1 and "kept by hand" in path.read_text()


def test_writing_creates_the_file_or_appends_a_section(tmp_path: Path) -> None:
    fresh = tmp_path / "docs" / "fresh.md"
    report.write_section(fresh, "table\n")
    assert fresh.read_text() == f"# Benchmarks\n\n{report.SECTION_HEADING}\n\n{report.START}\ntable\n{report.END}\n"
    by_hand = tmp_path / "by_hand.md"
    by_hand.write_text("# Benchmarks\n\n## History\n\nbefore / after\n")
    report.write_section(by_hand, "table\n")
    assert by_hand.read_text().startswith("# Benchmarks\n\n## History\n\nbefore / after\n\n## Latest")
    assert by_hand.read_text().endswith(f"{report.START}\ntable\n{report.END}\n")


@pytest.mark.parametrize("broken", [f"{report.START}\nno end\n", f"{report.END}\n{report.START}\n",
                                    f"{report.START}\n{report.END}\n{report.START}\n{report.END}\n"])
def test_broken_markers_leave_the_file_untouched(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "benchmarks.md"
    path.write_text(broken)
    with pytest.raises(ValueError, match="left as it is"):
        report.write_section(path, "table\n")
    assert path.read_text() == broken


def test_the_repository_file_has_exactly_one_bench_section() -> None:
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    assert text.count(report.START) == 1 and text.count(report.END) == 1
    assert report.replace_section(text, "x").count(report.START) == 1


def test_the_profile_groups_a_sample_by_its_innermost_known_frame() -> None:
    from loadtests.bench import profile

    django = "get_response_async (django/core/handlers/base.py:162)"
    psycopg = "execute (psycopg/cursor_async.py:113)"
    assert profile.group_of([django, "afind_user (accounts/queries.py:49)", psycopg]) == "psycopg (database client)"
    assert profile.group_of([django, "login (tokens/views.py:29)"]) == "authsite services and views"
    assert profile.group_of([django]) == "Django request cycle and middleware"
    assert profile.group_of(["Runner.run (asyncio/runners.py:118)"]) == profile.LOOP_C


def test_the_profile_counts_only_the_event_loop_threads_samples(tmp_path: Path) -> None:
    from loadtests.bench import profile

    raw = tmp_path / "raw.txt"
    loop = "thread (7): MainThread;main (authsite/serve.py:25);Runner.run (asyncio/runners.py:118)"
    raw.write_text(f"{loop};acheck (tokens/revocation.py:211);send (redis/asyncio/client.py:9) 30\n"
                   f"{loop};RequestResponseCycle.run_asgi (uvicorn/protocols/http/httptools_impl.py:422) 10\n"
                   f"{loop} 20\n"
                   "thread (8): argon2_0;verify (argon2/low_level.py:1) 500\n")
    assert profile.loop_profile(raw, 7) == {"redis-py (Redis client)": 30, "uvicorn HTTP": 10, profile.LOOP_C: 20}
