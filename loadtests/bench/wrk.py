"""The load generator: wrk runs driven by wrk.lua, pinned to the client cores."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.bench.config import SEED_PASSWORD, SEED_PREFIX, Config, cpu_list
from loadtests.stack import ROOT

LUA = Path(__file__).with_name("wrk.lua")


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    socket_errors: int
    cpu_seconds: float  # the generator's own CPU time
    command: str

    def rate(self, *codes: str) -> float:
        """Answers per second with one of these status codes."""
        return sum(self.statuses.get(c, 0) for c in codes) / self.seconds

    @property
    def generator_cpu(self) -> float:
        """Fraction of one core the generator used."""
        return self.cpu_seconds / self.seconds


class Wrk:
    """Starts wrk runs against `base` and collects their results; remembers every command."""

    def __init__(self, cfg: Config, base: str, wrk: str, taskset: str = "taskset"):
        self.cfg, self.base, self.wrk, self.taskset = cfg, base, wrk, taskset
        self.commands: list[str] = []

    def start(self, mode: str, connections: int, seconds: float, path: str = "/healthz", token: str | None = None,
              delay_ms: float | None = None, threads: int = 1) -> tuple[subprocess.Popen[str], str]:
        """Start one run (mode: get, login or signup) in the background: (process, shown command)."""
        env = dict(os.environ, BENCH_MODE=mode, BENCH_PATH=path, BENCH_USERS=str(self.cfg.seed_users),
                   BENCH_PREFIX=SEED_PREFIX, BENCH_PASSWORD=SEED_PASSWORD)
        if token:
            env["BENCH_TOKEN"] = token
        if delay_ms is not None:
            env["BENCH_DELAY_MS"] = f"{delay_ms:.2f}"
        cmd = [self.taskset, "-c", cpu_list(self.cfg.client_cpus), self.wrk, f"-t{threads}",
               f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(LUA),
               self.base + (path if mode == "get" else "/")]
        shown = " ".join(cmd[3:]).replace(str(ROOT) + "/", "")
        shown = f"BENCH_MODE={mode}" + (f" BENCH_DELAY_MS={delay_ms:.1f}" if delay_ms else "") + f" {shown}"
        self.commands.append(shown)
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True), shown

    @staticmethod
    def finish(proc: subprocess.Popen[str], shown: str) -> WrkResult:
        """Wait for a started run; its result, with the generator's own CPU time."""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out = proc.stdout.read() if proc.stdout else ""
        err = proc.stderr.read() if proc.stderr else ""
        line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {out}\n{err}")
        data = json.loads(line.removeprefix("BENCH_JSON "))
        return WrkResult(data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1e3, data["p99_us"] / 1e3,
                         data["statuses"], data["socket_errors"], usage.ru_utime + usage.ru_stime, shown)

    def run(self, *args: Any, **kwargs: Any) -> WrkResult:
        """Start a run and wait for it."""
        return self.finish(*self.start(*args, **kwargs))
