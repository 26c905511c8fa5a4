"""The benchmark table in Markdown, and its own delimited section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from loadtests.bench.config import cpu_list
from loadtests.bench.machine import cpu_model
from loadtests.bench.run import Report

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"
SECTION_HEADING = "## Latest `make bench` run"

# Why a figure can miss its target, and what would close the gap (printed for missed rows).
# Most specific keys first: the first key contained in a figure's name wins.
GAPS = {
    "/healthz p99, 32 connections": (
        "Each 503 costs the event loop about 0.09 ms (uvicorn's HTTP parsing and two ASGI sends are "
        "most of it; the door itself does no I/O), so a probe waits behind a round of 32 refusals, "
        "about 3 ms at the median; the tail is the hashing thread's share of the core (nice +10, "
        "about a tenth). HASH_THREAD_NICE=19 brings this p99 to about 9 ms, at the price of about "
        "0.3 instead of 3 logins/s served during such a flood (`python -m loadtests.bench` with the "
        "setting in the environment)."
    ),
    "/healthz p99": (
        "Under overload the loop also answers every refused login (at the door, before Django) and "
        "the admitted ones; the hashing thread takes its share of the core at nice +10."
    ),
    "median time to 503": "Refusals happen at the ASGI door; what remains is uvicorn's HTTP work.",
    "event-loop CPU per 503": (
        "uvicorn's HTTP parsing and its two ASGI sends per answer; the door itself only compares the "
        "pool's admitted count and writes a pre-rendered answer."
    ),
    "peak RSS": (
        "Likely the memory of the event loop answering a flood of refused requests (buffers, request "
        "objects) and glibc malloc arenas of the pool threads. To try: MALLOC_ARENA_MAX=2."
    ),
    "token verification": (
        "The cache hit hashes the whole token (SHA-256); a cheaper key would be the signature bytes "
        "plus a full comparison."
    ),
    "/me": (
        "/me does one Redis round trip (revocation markers and the cached profile in one MGET, shared "
        "by the requests of one loop turn) that /healthz does not; a round trip costs the loop a "
        "system call each way plus redis-py's command machinery. /healthz itself got faster "
        "(request threads lent instead of started), which makes that fixed cost a larger share."
    ),
    "signup": (
        "Beside the hash, a signup costs the server core about 2.7 ms of event-loop CPU (Django, "
        "validators, two database round trips, the Celery publish of the verification mail) and "
        "about 1.3 ms in the publishing thread (kombu builds a client per message). The same code "
        "costs 1.2 ms beside the cheapest Argon2 parameters: Argon2's 19 MiB working set evicts "
        "the caches between events. `python -m loadtests.bench.profile` measures all three."
    ),
    "login": (
        "Beside the hash, a login costs the server core about 3.8 ms of event-loop CPU: about 1.6 ms "
        "in uvloop's C code and system calls (about a dozen wake-ups per login: the request, two "
        "PostgreSQL and one Redis round trip, the hash hand-off), 0.6 ms Django's request cycle, "
        "0.5 ms psycopg, 0.3 ms redis-py, 0.16 ms JWT signing, 0.11 ms the known-client token. The "
        "same code runs 2.3x faster beside cheap hashing: Argon2's 19 MiB working set evicts the "
        "caches between the loop's events. ≥ 0.92 would leave about 1.2 ms for all of it on one "
        "core. `python -m loadtests.bench.profile` prints this breakdown."
    ),
}


def render(report: Report) -> str:
    """The run's table, parameters, generator CPU, notes, explanations of missed targets and
    wrk commands, as Markdown (the body of the bench section)."""
    cfg = report.cfg
    lines = [
        f"Produced by `make bench` (`python -m loadtests.bench`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}.",
        "",
        "| figure | measured | limit (same run) | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in report.rows:
        lines.append(f"| {row.figure} | {row.measured} | {row.limit} | {row.ratio:.2f} | {row.target} | "
                     f"{'yes' if row.ok else '**no**'} |")
    lines += ["", "Parameters:", ""]
    lines += [f"- {name}: {value}" for name, value in cfg.parameters()]
    worst = max(report.generator_cpu.values())
    lines += ["", "Load generator (wrk, 1 thread, pinned) CPU use, fraction of one core: "
              + ", ".join(f"{k} {v:.2f}" for k, v in report.generator_cpu.items())
              + f" (max {worst:.2f}{'; below 1: not the bottleneck' if worst < 0.9 else '; NEAR SATURATION'})."]
    lines += ["", "Notes:", ""] + [f"- {note}" for note in report.notes]
    missed = [row for row in report.rows if not row.ok]
    if missed:
        lines += ["", "Targets not met, why, and what would close the gap:", ""]
        for row in missed:
            reason = next((text for key, text in GAPS.items() if key in row.figure), "")
            lines.append(f"- **{row.figure}** ({row.ratio:.2f}, target {row.target}): {reason}")
    lines += ["", "Commands (wrk runs; the server was `taskset -c "
              f"{cpu_list(cfg.server_cpus)} python -m authsite.serve --workers {cfg.workers}`):", ""]
    lines += [f"    {cmd}" for cmd in report.commands]
    return "\n".join(lines) + "\n"


def replace_section(document: str, body: str) -> str:
    """`document` with the text between the bench markers replaced by `body`; everything
    outside the markers is kept. Without markers, a new section is appended at the end.
    Raises ValueError when the markers are not exactly one START followed by one END."""
    block = f"{START}\n{body.rstrip()}\n{END}"
    starts, ends = document.count(START), document.count(END)
    if starts == ends == 0:
        head = document.rstrip() or "# Benchmarks"
        return f"{head}\n\n{SECTION_HEADING}\n\n{block}\n"
    if starts != 1 or ends != 1 or document.index(START) > document.index(END):
        raise ValueError(f"expected one {START} followed by one {END}; the file is left as it is")
    before, rest = document.split(START, 1)
    after = rest.split(END, 1)[1]
    return f"{before}{block}{after}"


def write_section(path: Path, body: str) -> None:
    """Rewrite only the bench section of `path` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    current = path.read_text() if path.exists() else ""
    path.write_text(replace_section(current, body))
