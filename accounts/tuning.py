"""Argon2id parameters for this machine: the largest memory within a budget, then the time
cost that brings one hash close to a target duration."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw

# OWASP's minimum Argon2id configurations (memory KiB, iterations), parallelism 1: any one of
# them, or more of both, is enough.
OWASP_MINIMUMS = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
MIN_MEMORY_KIB = 8 * 1024


@dataclass(frozen=True)
class Tuning:
    memory_kib: int
    time_cost: int
    parallelism: int
    seconds: float  # median time of one hash with these parameters

    @property
    def logins_per_core(self) -> float:
        return 1 / self.seconds if self.seconds else float("inf")

    @property
    def meets_owasp(self) -> bool:
        return any(self.memory_kib >= m and self.time_cost >= t for m, t in OWASP_MINIMUMS)

    def environment(self) -> list[str]:
        return [f"ARGON2_MEMORY_COST={self.memory_kib}", f"ARGON2_TIME_COST={self.time_cost}",
                f"ARGON2_PARALLELISM={self.parallelism}"]


def measure(memory_kib: int, time_cost: int, parallelism: int = 1, runs: int = 3) -> float:
    """Median seconds of one Argon2id hash with these parameters on this machine."""
    secret, salt = os.urandom(16), os.urandom(16)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        hash_secret_raw(secret, salt, time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
                        hash_len=32, type=Type.ID)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def tune(target_seconds: float, max_memory_kib: int, parallelism: int = 1) -> Tuning:
    """Memory first (the main defence against GPU cracking): the largest size, halving from the
    budget, whose single pass fits the target; then as many passes as the target allows."""
    memory = max_memory_kib
    while memory // 2 >= max(MIN_MEMORY_KIB, 8 * parallelism) and measure(memory, 1, parallelism) > target_seconds:
        memory //= 2
    time_cost = max(1, int(target_seconds / measure(memory, 1, parallelism)))
    seconds = measure(memory, time_cost, parallelism)
    while time_cost > 1 and seconds > target_seconds * 1.1:
        time_cost -= 1
        seconds = measure(memory, time_cost, parallelism)
    return Tuning(memory, time_cost, parallelism, seconds)
