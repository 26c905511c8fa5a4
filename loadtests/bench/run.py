"""One benchmark run (start the stack, measure, stop it), its table rows, and the combination
of several runs into one table."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loadtests import stack
from loadtests.bench.config import SEED_PASSWORD, SEED_PREFIX, Config, cpu_list
from loadtests.bench.machine import (Tools, proc_status, services_pinned, thread_cpu_seconds, threads_cpu_seconds,
                                     worker_pids)
from loadtests.bench.probes import probe_503, sample_rss
from loadtests.bench.wrk import Wrk, WrkResult


@dataclass
class Row:
    figure: str
    measured: str
    limit: str
    ratio: float
    target: str
    ok: bool


@dataclass
class Report:
    cfg: Config
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generator_cpu: dict[str, float] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


@dataclass
class Measurements:
    """What one run measured: bare-process limits, wrk results, probe samples, memory (KiB)."""

    verify_rate: float
    hash_rate: float
    tokens: dict[str, float]
    wrk: dict[str, WrkResult]  # idle, trivial, me, login, signup, busy, flood2, flood10
    samples: list[tuple[int, float]]  # (status, seconds) of the 503 probe
    idle_rss: dict[int, int]
    peak_rss: dict[int, int]  # per worker: the highest of the sampled VmRSS and the final VmHWM
    load_before: float
    load_after: float
    loop_cpu: dict[str, float] = field(default_factory=dict)  # event-loop thread CPU seconds per run key
    two: dict[str, WrkResult] = field(default_factory=dict)  # 2 workers on every core
    services: str = ""


def pinned(tools: Tools, cpus: list[int], args: list[str], env: dict[str, str] | None = None) -> str:
    """Run a program on `cpus`; its stripped standard output."""
    out = subprocess.run([tools.taskset, "-c", cpu_list(cpus), *args], cwd=stack.ROOT, env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def argon2_rate(cfg: Config, tools: Tools, op: str) -> float:
    """Bare-process Argon2 `op` (verify or hash) rate with the server's threads and cores."""
    return float(pinned(tools, cfg.server_cpus, [
        sys.executable, "-m", "loadtests.bench.argon2_limit", str(cfg.time_cost), str(cfg.memory_cost),
        str(cfg.parallelism), str(cfg.hash_threads), str(cfg.seconds), op]))


def measure(cfg: Config, tools: Tools, commands: list[str]) -> Measurements:
    """Start the stack, take every measurement, stop the stack. wrk commands go to `commands`.
    PostgreSQL and Redis run on the client CPUs meanwhile."""
    os.sched_setaffinity(0, cfg.client_cpus)  # this program and its probes stay off the server's cores
    stack.start_services(f"{cfg.pg}/{cfg.database}", cfg.redis)
    with services_pinned(cfg.client_cpus) as how:
        m = _measure(cfg, tools, commands)
    m.services = how
    return m


def _timed(gen: Wrk, pid: int, cpu: dict[str, float], key: str, *args: Any, **kwargs: Any) -> WrkResult:
    """A wrk run, with the CPU seconds the server's threads spent meanwhile: `key` the event-loop
    thread, `key:hash` the busiest thread (the hashing one, when hashing), `key:other` the rest."""
    before = threads_cpu_seconds(pid)
    result = gen.run(*args, **kwargs)
    spent = {tid: seconds - before.get(tid, 0.0) for tid, seconds in threads_cpu_seconds(pid).items()}
    cpu[key] = spent.pop(pid, 0.0)
    cpu[f"{key}:hash"] = max(spent.values(), default=0.0)
    cpu[f"{key}:other"] = sum(spent.values()) - cpu[f"{key}:hash"]
    return result


def _two_workers(cfg: Config, tools: Tools, env: dict[str, str], workdir: Path, commands: list[str]
                 ) -> dict[str, WrkResult]:
    """The default deployment: WEB_CONCURRENCY = every core, the generator on the same cores."""
    every = sorted(set(cfg.server_cpus) | set(cfg.client_cpus))
    two = replace(cfg, server_cpus=every, client_cpus=every, workers=len(every))
    env = dict(env, WEB_CONCURRENCY=str(two.workers))
    runs: dict[str, WrkResult] = {}
    with stack.running(env, two.workers, workdir / "server-2.log",
                       web_prefix=[tools.taskset, "-c", cpu_list(every)],
                       celery_prefix=[tools.taskset, "-c", cpu_list(every)]) as svc:
        gen = Wrk(two, svc.base, tools.wrk, tools.taskset)
        token = _login_token(svc.base)
        s = cfg.seconds
        print(f"{two.workers} workers on CPUs {cpu_list(every)}: /healthz, /me, login, signup", flush=True)
        runs["trivial"] = gen.run("get", two.me_connections, s, "/healthz")
        runs["me"] = gen.run("get", two.me_connections, s, "/api/v1/auth/me", token=token)
        saturating = max(2, 3 * two.hash_threads)
        runs["login"] = gen.run("login", saturating, s)
        runs["signup"] = gen.run("signup", saturating, s)
        commands.extend(f"[{two.workers} workers] {c}" for c in gen.commands)
    return runs


def _login_token(base: str) -> str:
    status, body = stack.request(base, "POST", "/api/v1/auth/login",
                                 {"email": f"{SEED_PREFIX}0@example.com", "password": SEED_PASSWORD})
    assert status == 200, body
    token = json.loads(body)["access_token"]
    for _ in range(50):  # warm every worker's caches and connection pools
        stack.request(base, "GET", "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    return token


def _measure(cfg: Config, tools: Tools, commands: list[str]) -> Measurements:
    load_before = os.getloadavg()[0]
    s = cfg.seconds
    with tempfile.TemporaryDirectory(prefix="authsite-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "metrics").mkdir()
        env = cfg.server_env(str(workdir / "metrics"))
        print("preparing database", cfg.database, flush=True)
        stack.fresh_database(cfg.pg, cfg.database, cfg.redis)
        stack.manage(env, "migrate", "--noinput", "-v", "0")
        stack.manage(env, "seed_users", "--count", str(cfg.seed_users), "--prefix", SEED_PREFIX,
                     "--password", SEED_PASSWORD)

        print("measuring bare-process Argon2 limits", flush=True)
        verify_rate = argon2_rate(cfg, tools, "verify")
        hash_rate = argon2_rate(cfg, tools, "hash")
        print("measuring token verification", flush=True)
        tokens = json.loads(pinned(tools, cfg.server_cpus, [sys.executable, "-m", "loadtests.bench.token_micro"],
                                   env=env))

        with stack.running(env, cfg.workers, workdir / "server.log",
                           web_prefix=[tools.taskset, "-c", cpu_list(cfg.server_cpus)],
                           celery_prefix=[tools.taskset, "-c", cpu_list(cfg.client_cpus)]) as svc:
            gen = Wrk(cfg, svc.base, tools.wrk, tools.taskset)
            token = _login_token(svc.base)
            pids = worker_pids(svc.web.pid)
            loop = pids[0]  # with one worker, its event-loop thread (the main thread)
            idle_rss = {pid: proc_status(pid).get("VmRSS", 0) for pid in pids}
            runs: dict[str, WrkResult] = {}
            cpu: dict[str, float] = {}

            print("idle /healthz probe", flush=True)
            runs["idle"] = gen.run("get", 1, s, "/healthz", delay_ms=5)
            print("/healthz and /me throughput", flush=True)
            runs["trivial"] = gen.run("get", cfg.me_connections, s, "/healthz")
            runs["me"] = gen.run("get", cfg.me_connections, s, "/api/v1/auth/me", token=token)
            print("login and signup saturation", flush=True)
            saturating = max(2, 3 * cfg.hash_threads)
            runs["login"] = _timed(gen, loop, cpu, "login", "login", saturating, s)
            runs["signup"] = gen.run("signup", saturating, s)
            login_rate = runs["login"].rate("200")

            print("32 connections flooding /login closed-loop, with /healthz probe", flush=True)
            before = thread_cpu_seconds(loop)
            flood = gen.start("login", 32, s + 2)
            time.sleep(1)
            runs["busy32"] = gen.run("get", 1, s, "/healthz", delay_ms=5)
            runs["flood32"] = Wrk.finish(*flood)
            cpu["flood32"] = thread_cpu_seconds(loop) - before

            print("2x login overload with /healthz probe", flush=True)
            # Many connections, each pausing between requests: the offered rate barely depends on
            # the answers' latency (wrk has no open-loop mode; each connection is closed-loop).
            over_conns = max(128, 16 * cfg.workers * (cfg.hash_workers + cfg.queue_limit))
            flood = gen.start("login", over_conns, s + 2, delay_ms=over_conns * 1000 / (2 * login_rate))
            time.sleep(2)  # past the opening burst (every connection's first request is immediate)
            runs["busy"] = gen.run("get", 1, s, "/healthz", delay_ms=5)
            runs["flood2"] = Wrk.finish(*flood)

            print("10x login overload: RSS and time to 503", flush=True)
            stop = threading.Event()
            samples: list[tuple[int, float]] = []
            peaks: dict[int, int] = {}
            threads = [threading.Thread(target=probe_503, args=(svc.base, stop, samples)),
                       threading.Thread(target=sample_rss, args=(pids, stop, peaks))]
            flood = gen.start("login", over_conns, s + 2, delay_ms=over_conns * 1000 / (10 * login_rate))
            time.sleep(2)
            for thread in threads:
                thread.start()
            runs["flood10"] = Wrk.finish(*flood)
            stop.set()
            for thread in threads:
                thread.join()
            peak = {pid: max(peaks.get(pid, 0), proc_status(pid).get("VmHWM", 0)) for pid in pids}
            commands.extend(gen.commands)
        two = _two_workers(cfg, tools, env, workdir, commands) if cfg.two_workers else {}
    return Measurements(verify_rate, hash_rate, tokens, runs, samples, idle_rss, peak, load_before,
                        os.getloadavg()[0], cpu, two)


# Targets of the throughput rows: each figure ÷ its limit measured in the same run.
THROUGHPUT_TARGET = 0.92
# The /healthz p99 under a closed-loop login flood may be at most max(FLOOD_P99_FLOOR_MS, 2 × idle p99).
FLOOD_P99_FLOOR_MS = 10.0
REFUSAL_CPU_TARGET_MS = 0.1


def _throughput(figure: str, rate: float, limit: float, limit_text: str) -> Row:
    r = rate / limit
    return Row(figure, f"{rate:.1f}/s" if rate < 100 else f"{rate:.0f}/s", f"{limit:.1f} {limit_text}"
               if limit < 100 else f"{limit:.0f} {limit_text}", r, f"≥ {THROUGHPUT_TARGET}",
               r >= THROUGHPUT_TARGET)


def build_rows(cfg: Config, m: Measurements) -> list[Row]:
    """The table rows of one run: each figure, its limit from the same run, ratio and target."""
    w = m.wrk
    login_rate = w["login"].rate("200")
    threads = f"{cfg.hash_threads} thread(s), bare process"
    rows = [
        _throughput("login throughput at saturation", login_rate, m.verify_rate, f"Argon2 verify/s ({threads})"),
        _throughput("signup throughput at saturation", w["signup"].rate("201"), m.hash_rate,
                    f"Argon2 hash/s ({threads})"),
        _throughput("/me throughput, warm token cache", w["me"].rate("200"), w["trivial"].rate("200"),
                    "/s /healthz (async JSON view on the same stack)"),
    ]
    idle = w["idle"]
    busy32 = w["busy32"]
    allowed = max(FLOOD_P99_FLOOR_MS, 2 * idle.p99_ms)
    r = busy32.p99_ms / allowed
    rows.append(Row("/healthz p99, 32 connections flooding /login closed-loop", f"{busy32.p99_ms:.2f} ms",
                    f"max({FLOOD_P99_FLOOR_MS:g} ms, 2 × {idle.p99_ms:.2f} ms idle p99)", r, "≤ 1", r <= 1))
    flood = w["flood32"]
    refusals = flood.statuses.get("503", 0)
    admitted = flood.statuses.get("200", 0)
    per_login = m.loop_cpu["login"] / max(1, w["login"].statuses.get("200", 0))
    # The loop thread's CPU in the flood, less what its admitted logins cost (measured above).
    cpu_ms = (m.loop_cpu["flood32"] - admitted * per_login) / max(1, refusals) * 1000
    rows.append(Row("event-loop CPU per 503 refusal, pool full", f"{cpu_ms:.3f} ms",
                    f"{refusals / flood.seconds:.0f} refusals/s + {admitted / flood.seconds:.0f} logins/s "
                    f"({per_login * 1000:.2f} ms loop CPU each)", cpu_ms, f"≤ {REFUSAL_CPU_TARGET_MS} ms",
                    cpu_ms <= REFUSAL_CPU_TARGET_MS))
    busy = w["busy"]
    r = busy.p99_ms / idle.p99_ms
    offered2 = w["flood2"].requests / w["flood2"].seconds
    rows.append(Row(f"/healthz p99, logins offered at {offered2 / login_rate:.1f}x capacity", f"{busy.p99_ms:.2f} ms",
                    f"{idle.p99_ms:.2f} ms idle p99", r, "≤ 3x and ≤ 20 ms", r <= 3 and busy.p99_ms <= 20))
    refused = [sec for status, sec in m.samples if status == 503]
    t503 = statistics.median(refused) * 1000 if refused else float("nan")
    offered10 = w["flood10"].requests / w["flood10"].seconds
    rows.append(Row(f"median time to 503, queue full ({offered10 / login_rate:.1f}x offered)",
                    f"{t503:.2f} ms", f"{len(refused)} refusals of {len(m.samples)} probes", t503, "≤ 20 ms",
                    t503 <= 20))
    m_kib = cfg.memory_cost * cfg.parallelism

    def rss_ratio(pid: int) -> float:
        return m.peak_rss[pid] / (m.idle_rss[pid] + cfg.hash_workers * m_kib)

    worst = max(m.idle_rss, key=rss_ratio)
    r = rss_ratio(worst)
    rows.append(Row("peak RSS per worker, 10x login overload", f"{m.peak_rss[worst] / 1024:.0f} MiB",
                    f"{m.idle_rss[worst] / 1024:.0f} MiB idle + {cfg.hash_workers} × {m_kib / 1024:.0f} MiB Argon2",
                    r, "≤ 1.2x", r <= 1.2))
    hit, full = m.tokens["hit_us"], m.tokens["full_us"]
    r = hit / full
    rows.append(Row("token verification, cache hit", f"{hit:.2f} µs", f"{full:.1f} µs full Ed25519 verification",
                    r, "≤ 0.1x", r <= 0.1))
    if m.two:
        cores = len(set(cfg.server_cpus) | set(cfg.client_cpus))
        rows += [
            _throughput(f"{cores} workers on {cores} cores: login throughput", m.two["login"].rate("200"),
                        cores * m.verify_rate, f"= {cores} × one-core Argon2 verify/s"),
            _throughput(f"{cores} workers on {cores} cores: signup throughput", m.two["signup"].rate("201"),
                        cores * m.hash_rate, f"= {cores} × one-core Argon2 hash/s"),
            _throughput(f"{cores} workers on {cores} cores: /me throughput", m.two["me"].rate("200"),
                        m.two["trivial"].rate("200"), "/s /healthz"),
        ]
    return rows


# The generator-CPU table's labels for the wrk runs, in the order they ran.
GENERATOR_LABELS = {"idle": "idle probe", "trivial": "/healthz", "me": "/me", "login": "login", "signup": "signup",
                    "flood32": "32-connection flood", "busy32": "flood probe", "flood2": "2x flood",
                    "busy": "2x probe", "flood10": "10x flood"}


def build_report(cfg: Config, m: Measurements, commands: list[str]) -> Report:
    """The report of one run: rows, the generator's CPU use, notes, the wrk commands."""
    report = Report(cfg, rows=build_rows(cfg, m), commands=commands)
    for key, label in GENERATOR_LABELS.items():
        report.generator_cpu[label] = m.wrk[key].generator_cpu
    stray = {label: m.wrk[key].statuses for key, label in (("login", "login"), ("signup", "signup"), ("me", "/me"))
             if set(m.wrk[key].statuses) - {"200", "201"}}
    if stray:
        report.notes.append(f"non-success answers during saturation runs: {stray}")
    report.notes.append(f"32-connection flood answers: {m.wrk['flood32'].statuses}; 2x flood answers: "
                        f"{m.wrk['flood2'].statuses}; 10x flood answers: {m.wrk['flood10'].statuses}")
    logins = max(1, m.wrk["login"].statuses.get("200", 0))
    per = {part: m.loop_cpu.get(f"login{part}", 0.0) / logins * 1000 for part in ("", ":other", ":hash")}
    report.notes.append(f"server CPU per login at saturation: event-loop thread {per['']:.2f} ms (HTTP, Django, "
                        f"database and Redis clients, JWT), other threads {per[':other']:.2f} ms, hashing thread "
                        f"{per[':hash']:.2f} ms (bare process: {1000 / m.verify_rate:.2f} ms per verification)")
    report.notes.append(m.services)
    report.notes.append(f"machine load average (1 min) before / after the run: {m.load_before:.2f} / "
                        f"{m.load_after:.2f} (other work on the machine skews absolute numbers, less so the ratios)")
    report.notes.append("the overload multiples are what wrk actually offered (connections pacing "
                        "themselves with jittered pauses), divided by the measured login throughput")
    return report


def bench(cfg: Config, tools: Tools) -> Report:
    """One whole run: measure, then tabulate."""
    commands: list[str] = []
    return build_report(cfg, measure(cfg, tools, commands), commands)


def combine(reports: list[Report]) -> Report:
    """One report from several runs: each row is the one of the run whose ratio is the median
    for that figure (so its measured value, limit and verdict stay consistent)."""
    if len(reports) == 1:
        return reports[0]
    first = reports[0]
    combined = Report(first.cfg, commands=first.commands)
    spread = []
    for i, row in enumerate(first.rows):
        candidates = sorted((r.rows[i] for r in reports), key=lambda candidate: candidate.ratio)
        combined.rows.append(candidates[len(candidates) // 2])
        spread.append(f"{row.figure.split(',')[0]}: " + " / ".join(f"{r.rows[i].ratio:.2f}" for r in reports))
    for key in first.generator_cpu:
        combined.generator_cpu[key] = max(r.generator_cpu.get(key, 0.0) for r in reports)
    combined.notes = [f"{len(reports)} whole runs; each row is the run with the median ratio. All ratios, "
                      f"run by run: " + "; ".join(spread)]
    for n, r in enumerate(reports, 1):
        combined.notes += [f"run {n}: {note}" for note in r.notes]
    return combined
