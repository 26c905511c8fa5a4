"""What the benchmark reads from this machine: the CPU, processes in /proc, the tools it needs."""

from __future__ import annotations

import platform
import shutil
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
