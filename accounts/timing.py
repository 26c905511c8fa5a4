"""Failed logins take the same time whatever hash the account holds.

A wrong password costs the verification of the stored hash (plus the dummy for a non-current
one); an unknown email costs one dummy. A slow legacy kind (PBKDF2 at a million iterations,
bcrypt 12, Argon2 at 100 MiB) would make its accounts recognisable by their failure time.
So every failure is padded, by sleeping (no CPU), up to a floor: the failure cost of the
slowest hash kind and parameter set present, measured in this process on a sample hash of
that kind, times settings.LOGIN_FAILURE_FLOOR_MARGIN. Which kinds are present comes from the
latest inventory (accounts.inventory), re-read every LOGIN_FAILURE_FLOOR_REFRESH_SECONDS.

Measuring happens on a failed login when the floor is due (first failure of a process, then
every refresh period) and only for kinds not measured yet, so it is rare and short. The
inventory itself is taken by `rehash_passwords`, imports, the metrics refresh and a periodic
task, never by a login.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.signals import setting_changed

from accounts import inventory, passwords
from accounts.exceptions import InvalidCredentials

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
UNKNOWN_EMAIL = ("", "")

_lock = threading.Lock()
_costs: dict[tuple[str, str], float] = {}  # (kind, parameters) -> seconds to fail against it
_state: dict[str, Any] = {"floor": None, "measured": 0.0, "due": 0.0}
MAX_RAISE = 4
NO_INVENTORY_RETRY_SECONDS = 10


def compute_floor() -> float:
    """Measure what is not measured yet among the kinds present; store and return the floor."""
    taken = inventory.latest()
    present = [UNKNOWN_EMAIL, *(taken.present() if taken is not None else [])]
    for label in present:
        if label not in _costs:
            try:
                _costs[label] = passwords.failure_seconds(*label)
            except Exception:  # noqa: BLE001 - an odd parameter set must not break logins
                logger.warning("could not measure a hash kind's failure cost", extra={"kind": label[0]})
    floor = max(_costs.get(label, 0.0) for label in present) * settings.LOGIN_FAILURE_FLOOR_MARGIN
    # Without an inventory yet (none taken, or the cache lost it), look again soon.
    refresh = settings.LOGIN_FAILURE_FLOOR_REFRESH_SECONDS if taken is not None else NO_INVENTORY_RETRY_SECONDS
    _state.update(floor=floor, measured=floor, due=time.monotonic() + refresh)
    return floor


def _due() -> bool:
    return _state["floor"] is None or time.monotonic() >= _state["due"]


def floor() -> float:
    """Seconds every failed login lasts at least (sync callers)."""
    with _lock:
        return compute_floor() if _due() else float(_state["floor"])


def _compute_and_close() -> float:
    try:
        return floor()
    finally:
        from django.db import connection

        connection.close()


async def afloor() -> float:
    if _due():
        return await asyncio.to_thread(_compute_and_close)
    return float(_state["floor"])


def _remaining(elapsed: float, target: float) -> float:
    """Seconds left to sleep; a failure slower than the floor raises the floor (up to
    MAX_RAISE times the measured one, until the next refresh): the machine got slower, and the
    other kinds must keep up with it."""
    if elapsed > target and _state["floor"] is not None:
        _state["floor"] = min(max(_state["floor"], elapsed), _state["measured"] * MAX_RAISE)
    return max(0.0, target - elapsed)


def pad_failures(fn: F) -> F:
    """Make a failed authentication (InvalidCredentials) last at least the floor."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            except InvalidCredentials:
                elapsed = time.perf_counter() - started  # before a measurement the floor may need
                await asyncio.sleep(_remaining(elapsed, await afloor()))
                raise
        return awrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        except InvalidCredentials:
            elapsed = time.perf_counter() - started
            time.sleep(_remaining(elapsed, floor()))
            raise
    return wrapper  # type: ignore[return-value]


def _reset(**kwargs: Any) -> None:
    setting = str(kwargs.get("setting") or "")
    if not setting or setting.startswith(("ARGON2_", "PASSWORD_", "LOGIN_FAILURE_")):
        _costs.clear()
        _state.update(floor=None, due=0.0)


setting_changed.connect(_reset)
