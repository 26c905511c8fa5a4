"""CPU per step of a login, hashing excluded: where the non-hash work of a login goes.

Usage (its own database; never against production):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/authsite_steps REDIS_URL=redis://127.0.0.1:6379/14 \
    DJANGO_SECRET_KEY=steps-only-secret-0123456789 .venv/bin/python -m loadtests.login_steps [N]

Argon2 runs at its cheapest parameters here and throttling is off, so that the step figures
show the rest; times are process CPU (all threads) per login, averaged over N logins. One
column per database path: the ORM behind sync_to_async, and on PostgreSQL the async pool
(authsite.kit.asyncdb) that the service uses there unless ASYNC_DB_POOL_SIZE=0.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

EMAIL, PASSWORD = "steps@example.com", "correct horse battery staple"
# Set before Django reads its settings.
STEP_SETTINGS = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8", "THROTTLE_ACCOUNT_IP": "0/0",
                 "THROTTLE_ACCOUNT": "0/0", "THROTTLE_IP": "0/0", "DJANGO_SETTINGS_MODULE": "authsite.settings"}


WARMUP = 10  # logins first, not counted: connections opened, SQL compiled, caches filled


async def measure(n: int) -> dict[str, float]:
    """Microseconds of process CPU per login for each step, averaged over `n` logins of EMAIL,
    each step through the function a login calls (the database path the settings choose)."""
    from accounts import passwords, services, throttling
    from tokens import services as tokens

    attempt = services.login_attempt(EMAIL, PASSWORD, "127.0.0.1")
    totals: dict[str, float] = {}

    def add(name: str, started: float) -> None:
        totals[name] = totals.get(name, 0.0) + time.process_time() - started

    for i in range(WARMUP + n):
        if i == WARMUP:
            totals.clear()
        t = time.process_time()
        limits = throttling.limits_for(attempt.email, attempt.ip)
        await throttling.aacquire(limits)
        add("throttle acquire", t)
        t = time.process_time()
        user = await services._afind_user(attempt.email)
        add("user lookup", t)
        t = time.process_time()
        await passwords.averify(PASSWORD, user.password)  # type: ignore[union-attr]
        add("verify (cheapest Argon2)", t)
        t = time.process_time()
        await throttling.arelease(limits, forget=[throttling.account_ip_key(attempt.email, attempt.ip)])
        add("throttle release (Redis)", t)
        t = time.process_time()
        pair = await tokens.aissue_pair(user, attempt.ip, "steps")  # type: ignore[arg-type]
        add("session + refresh + last_login, profile drop, JWT", t)
        t = time.process_time()
        await tokens.arefresh(pair.refresh_token, attempt.ip)
        add("later: one refresh (rotation transaction, JWT)", t)
    return {name: value / n * 1e6 for name, value in totals.items()}


def main(argv: list[str]) -> None:
    os.environ.update(STEP_SETTINGS)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import override_settings

    from accounts.models import User

    n = int(argv[0]) if argv else 300
    call_command("migrate", verbosity=0)
    User.objects.filter(email=EMAIL).delete()
    User.objects.create_user(EMAIL, PASSWORD)
    # The ORM behind sync_to_async, then (on PostgreSQL) the async pool.
    paths = {"ORM": 0}
    if connection.vendor == "postgresql":
        paths["pool"] = settings.ASYNC_DB_POOL_SIZE or 4
    results = {}
    for path, size in paths.items():
        with override_settings(ASYNC_DB_POOL_SIZE=size):
            results[path] = asyncio.run(measure(n))
    print(f"{'µs CPU per login':52s}" + "".join(f"{path:>8s}" for path in results))
    for name in results["ORM"]:
        print(f"{name:52s}" + "".join(f"{per_step[name]:8.0f}" for per_step in results.values()))


if __name__ == "__main__":
    main(sys.argv[1:])
