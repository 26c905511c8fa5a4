"""Progress for management commands: a tqdm bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from typing import TextIO

from tqdm import tqdm


class Progress:
    """`advance(n)` / `to(n)` towards `total`; plain mode prints a line at most every `every` seconds."""

    def __init__(self, total: int, unit: str, out: TextIO, label: str, every: float = 5.0, bytes_: bool = False):
        self.total, self.unit, self.out, self.label, self.every = total, unit, out, label, every
        self.count = 0
        self.closed = False
        self._last = 0.0
        self._bar = tqdm(total=total, unit="B" if bytes_ else unit, unit_scale=bytes_, desc=label, file=out,
                         dynamic_ncols=True) if out.isatty() else None

    def advance(self, n: int) -> None:
        self.to(self.count + n)

    def to(self, count: int) -> None:
        step, self.count = count - self.count, count
        if self._bar is not None:
            self._bar.update(step)
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            share = f" ({100 * count / self.total:.0f} %)" if self.total else ""
            self.out.write(f"{self.label}: {count}/{self.total} {self.unit}{share}\n")
            self.out.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._bar is not None:
            self._bar.close()
        else:
            self.out.write(f"{self.label}: {self.count}/{self.total} {self.unit}, finished\n")
            self.out.flush()
