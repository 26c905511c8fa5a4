"""One core for a sync function and its async twin.

The core is a generator that yields `Io` steps (a blocking call and its awaitable twin) and
returns its result; `run` performs the steps by calling, `arun` by awaiting. An exception
raised by a step is thrown back into the core at the `yield`, so the core's own
try/except/finally decide what happens, exactly once for both twins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Io:
    """One step of a core: `call(*args)` for the sync twin, `await acall(*args)` for the async one."""

    call: Callable[..., Any]
    acall: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...] = ()


Core = Generator[Io, Any, T]


class _Driver:
    """Resumes a core with each step's value or error, until the core returns."""

    def __init__(self, core: Core[Any]):
        self.core = core
        self.sent: Any = None
        self.error: BaseException | None = None
        self.result: Any = None

    def next_step(self) -> Io | None:
        """The next step to perform, or None once the core has returned (see `result`)."""
        sent, error = self.sent, self.error
        self.sent, self.error = None, None
        try:
            return self.core.throw(error) if error is not None else self.core.send(sent)
        except StopIteration as done:
            self.result = done.value
            return None

    def fail(self, error: BaseException) -> None:
        self.error = error


def run(core: Core[T]) -> T:
    """Drive `core` synchronously and return its result."""
    driver = _Driver(core)
    while (step := driver.next_step()) is not None:
        try:
            driver.sent = step.call(*step.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the core, which decides
            driver.fail(exc)
    return driver.result  # type: ignore[no-any-return]


async def arun(core: Core[T]) -> T:
    """Async twin of `run`: the same core, each step awaited."""
    driver = _Driver(core)
    while (step := driver.next_step()) is not None:
        try:
            driver.sent = await step.acall(*step.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the core, which decides
            driver.fail(exc)
    return driver.result  # type: ignore[no-any-return]
