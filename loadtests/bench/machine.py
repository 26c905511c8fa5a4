"""What the benchmark reads from this machine: the CPU, processes in /proc, the tools it needs."""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Tool -> the Debian package that provides it.
TOOLS = {"wrk": "wrk", "taskset": "util-linux"}


@dataclass(frozen=True)
class Tools:
    wrk: str
    taskset: str


class MissingTools(SystemExit):
    """Exits the benchmark with a message naming the missing tools and how to install them."""


def missing_tools_message(missing: list[str]) -> str:
    packages = " ".join(sorted({TOOLS[name] for name in missing}))
    return (f"make bench needs {', '.join(missing)}, not found on PATH. Install with:\n"
            f"    sudo apt-get install -y {packages}\n"
            "(as root, without sudo), then run make bench again.")


def require_tools() -> Tools:
    """The paths of wrk and taskset; raises MissingTools (exit status 1, with the install
    command) if either is missing. Nothing is installed from here."""
    found = {name: shutil.which(name) for name in TOOLS}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise MissingTools(missing_tools_message(missing))
    return Tools(wrk=str(found["wrk"]), taskset=str(found["taskset"]))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process, KiB."""
    values: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    except FileNotFoundError:
        pass
    return values


def children(pid: int) -> list[int]:
    """Every descendant of `pid`."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for kid in map(int, kids):
            found.append(kid)
            found.extend(children(kid))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def worker_pids(server_pid: int) -> list[int]:
    """The web server's worker processes (the server itself when it runs a single process)."""
    spawned = [pid for pid in children(server_pid)
               if "spawn_main" in cmdline(pid) and "resource_tracker" not in cmdline(pid)]
    return spawned or [server_pid]


def thread_cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds of one thread (default: the process's main thread)."""
    try:
        fields = Path(f"/proc/{pid}/task/{tid or pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    # Fields 14 and 15 of stat (utime, stime), counted from after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of every thread of `pid`, by thread id."""
    try:
        tids = [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
    except FileNotFoundError:
        return {}
    return {tid: thread_cpu_seconds(pid, tid) for tid in tids}


def service_pids() -> list[int]:
    """The processes of the local PostgreSQL and Redis servers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if name.startswith(("postgres", "redis-server")):
            found.append(int(entry.name))
    return found


def _set_affinity(pid: int, cpus: set[int]) -> bool:
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), cpus)
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return False
    return True


@contextmanager
def services_pinned(cpus: list[int]) -> Iterator[str]:
    """Pin PostgreSQL (its postmaster, so new backends too) and Redis to `cpus` for the block,
    then give every one of their processes back the affinity it had (or all CPUs). Yields how
    the services ran, for the report."""
    before = {}
    for pid in service_pids():
        try:
            before[pid] = os.sched_getaffinity(pid)
        except (ProcessLookupError, PermissionError, OSError):
            continue
    pinned = [pid for pid in before if _set_affinity(pid, set(cpus))]
    everything = set(range(os.cpu_count() or 1))
    try:
        if pinned and len(pinned) == len(before):
            yield f"PostgreSQL and Redis pinned to CPU(s) {','.join(map(str, cpus))}"
        else:
            yield "PostgreSQL and Redis not pinned (not permitted here): they share every core"
    finally:
        for pid in service_pids():
            _set_affinity(pid, before.get(pid, everything))
