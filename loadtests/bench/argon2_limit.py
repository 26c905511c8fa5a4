"""Argon2id hashes or verifications per second of a bare process (no server around it).

Run as its own program, pinned to the server's cores by the benchmark:
    python -m loadtests.bench.argon2_limit TIME_COST MEMORY_COST PARALLELISM THREADS SECONDS verify|hash
It prints one number: operations per second over all THREADS.
"""

from __future__ import annotations

import sys
import threading
import time

from argon2 import PasswordHasher

PASSWORD = "load-test-password-0123"


def rate(time_cost: int, memory_cost: int, parallelism: int, threads: int, seconds: float, op: str) -> float:
    """Operations per second of `threads` threads doing `op` (verify or hash) for `seconds`."""
    if op not in ("verify", "hash"):
        raise ValueError(f"op must be verify or hash, not {op!r}")
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    encoded = hasher.hash(PASSWORD)
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        while time.monotonic() < stop:
            if op == "verify":
                hasher.verify(encoded, PASSWORD)
            else:
                hasher.hash(PASSWORD)
            counts[i] += 1

    started = time.monotonic()
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def main(argv: list[str]) -> None:
    if len(argv) != 6:
        raise SystemExit(__doc__)
    t, m, p, threads = (int(value) for value in argv[:4])
    print(rate(t, m, p, threads, float(argv[4]), argv[5]))


if __name__ == "__main__":
    main(sys.argv[1:])
