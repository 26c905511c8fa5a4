"""What the login-attempt audit log costs a login, against one Argon2 verification.

Usage (its own database; never against production):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/authsite_steps REDIS_URL=redis://127.0.0.1:6379/14 \
    DJANGO_SECRET_KEY=steps-only-secret-0123456789 .venv/bin/python -m loadtests.attempt_log_cost

Prints the wall time of `accounts.attempts.record` (the only part on the request path), of the
batched write per row (a bulk insert of 500 rows, off the request path), and of one Argon2
verification at the configured parameters; each the median of 5 rounds. A saturated login
benchmark on a shared machine drifts far more than the few hundredths of a percent at stake, so
the parts are timed directly.
"""

from __future__ import annotations

import os
import statistics
import time

ROUNDS, RECORDS, BATCH = 5, 20_000, 500


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from accounts import attempts, passwords
    from accounts.models import LoginAttempt

    # Only this script writes: the background writer must not take a batch away from it.
    settings.LOGIN_ATTEMPT_FLUSH_SECONDS = 10**6
    settings.LOGIN_ATTEMPT_BUFFER_LIMIT = 10**6
    settings.LOGIN_ATTEMPT_BATCH = 10**6
    call_command("migrate", verbosity=0)

    def record_us() -> float:
        attempts.discard()
        started = time.perf_counter()
        for i in range(RECORDS):
            attempts.record(f"user{i}@example.com", "203.0.113.9", LoginAttempt.BAD_CREDENTIALS, "api")
        return (time.perf_counter() - started) / RECORDS * 1e6

    def write_us() -> float:
        attempts.discard()
        for i in range(BATCH):
            attempts.record(f"user{i}@example.com", "203.0.113.9", LoginAttempt.BAD_CREDENTIALS, "api")
        started = time.perf_counter()
        written = attempts.flush()
        elapsed = time.perf_counter() - started
        assert written == BATCH, written
        return elapsed / BATCH * 1e6

    encoded = passwords.hash_password("correct horse battery staple")

    def verify_us() -> float:
        started = time.perf_counter()
        passwords.verify("not the password at all", encoded)
        return (time.perf_counter() - started) * 1e6

    record = statistics.median(record_us() for _ in range(ROUNDS))
    write = statistics.median(write_us() for _ in range(ROUNDS))
    verify = statistics.median(verify_us() for _ in range(ROUNDS * 4))
    LoginAttempt.objects.filter(email__startswith="user", ip="203.0.113.9").delete()
    print(f"record() on the request path     {record:10.2f} us per login")
    print(f"batched write, off the path      {write:10.1f} us per login (bulk insert of {BATCH})")
    print(f"one Argon2 verification          {verify:10.0f} us")
    print(f"share of a login: request path {100 * record / verify:.3f} %, "
          f"all work {100 * (record + write) / verify:.3f} %")


if __name__ == "__main__":
    main()
