"""`python -m loadtests.bench [options]`: run the benchmark, print the table, write it."""

from __future__ import annotations

import sys

from loadtests.bench.config import config_from_args
from loadtests.bench.machine import require_tools
from loadtests.bench.report import render, write_section
from loadtests.bench.run import bench, combine


def main(argv: list[str] | None = None) -> int:
    cfg = config_from_args(argv)
    tools = require_tools()
    print(f"benchmark: about {(cfg.seconds * (17 if cfg.two_workers else 13) + 60) * cfg.runs:.0f} s", flush=True)
    report = combine([bench(cfg, tools) for _ in range(cfg.runs)])
    text = render(report)
    print(text)
    if cfg.output:
        write_section(cfg.output, text)
        print(f"written to {cfg.output}")
    return 0  # a missed target is a finding, reported in the table, not a failure of the tool


if __name__ == "__main__":
    sys.exit(main())
