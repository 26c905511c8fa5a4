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
    "/healthz p99": (
        "Under overload the loop also answers every refused login; refusals already happen before "
        "any I/O (HashPool.ensure_room). To try: hashing threads at nice +19 or SCHED_IDLE."
    ),
    "median time to 503": (
        "Refusals happen before any I/O; what remains is Django's per-request work (request "
        "signals with their thread hop, URL resolution, middleware)."
    ),
    "peak RSS": (
        "Likely the memory of the event loop answering a flood of refused requests (buffers, request "
        "objects) and glibc malloc arenas of the pool and sync_to_async threads. To try: "
        "MALLOC_ARENA_MAX=2 in the server environment."
    ),
    "token verification": (
        "The cache hit hashes the whole token (SHA-256); a cheaper key would be the signature bytes "
        "plus a full comparison."
    ),
    "/me": (
        "/me does one Redis round trip (revocation markers and the cached profile in one MGET) that "
        "/healthz does not, and the redis-py asyncio client's per-command work runs on the event loop. Closing "
        "it: a leaner Redis client path, or pushing revocations to every process (pub/sub) so that "
        "most /me requests need no round trip at all (at the price of a delivery window)."
    ),
    "signup": (
        "A signup also runs Django's password validators (the similarity check uses difflib), an "
        "existence query and the insert, each ORM call behind a sync_to_async thread hop, on the "
        "same core as the hash. Closing it: fewer round trips, async database access without the "
        "thread hop."
    ),
    "login": (
        "Besides the Argon2 verification, a login does non-hash work on the server core: the user "
        "lookup and the session + refresh token + last_login transaction (each an ORM call behind a "
        "sync_to_async thread hop), Redis calls and JWT signing, on top of Django's per-request work "
        "(the /healthz row). `loadtests/login_steps.py` prints the CPU of each step; the two ORM "
        "calls dominate. The hashing thread runs at nice +10, so that work displaces hashing one for "
        "one on a single server core. Closing it: async database access without thread hops "
        "(psycopg's async connections directly), or more server cores so that loop work and hashing "
        "overlap."
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
