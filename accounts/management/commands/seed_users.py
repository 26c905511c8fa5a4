"""`manage.py seed_users --count N`: create N users for load tests, fast."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts import passwords
from accounts.emails import canonical_email, clean_email
from accounts.models import User

DEFAULT_PASSWORD = "load-test-password-0123"
BATCH_SIZE = 2000


class Command(BaseCommand):
    help = (
        "Create COUNT users PREFIX0@example.com … PREFIX{COUNT-1}@example.com for load tests. "
        "For speed, the password is hashed ONCE (Argon2id at the configured parameters) and that "
        "encoded hash is stored for every user, so all seeded users share one salt: fine for "
        "seed data, never for real accounts. Users are inserted with bulk_create in batches; "
        "existing addresses are left alone, so running it again creates no duplicates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, required=True, help="number of users to ensure")
        parser.add_argument("--password", default=DEFAULT_PASSWORD, help="password of every seeded user")
        parser.add_argument("--prefix", default="loadtest-user-", help="local part before the number")
        parser.add_argument("--domain", default="example.com")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)

    def handle(self, *args: Any, count: int, password: str, prefix: str, domain: str, batch_size: int,
               **options: Any) -> None:
        if count < 0 or batch_size < 1:
            self.stderr.write("--count must be >= 0 and --batch-size >= 1")
            raise SystemExit(2)
        encoded = passwords.hash_password(password)  # the one hash, reused for every row
        seeded = User.objects.filter(email__startswith=canonical_email(prefix),
                                     email__endswith="@" + canonical_email(domain))
        before = seeded.count()
        for start in range(0, count, batch_size):
            emails = [clean_email(f"{prefix}{i}@{domain}") for i in range(start, min(count, start + batch_size))]
            # ignore_conflicts: an address that exists (an earlier run) is skipped, not duplicated.
            User.objects.bulk_create([User(email=email, password=encoded) for email in emails],
                                     batch_size=batch_size, ignore_conflicts=True)
            if options.get("verbosity", 1) > 1:
                self.stdout.write(f"{min(count, start + batch_size)}/{count}")
        after = seeded.count()
        self.stdout.write(self.style.SUCCESS(
            f"{after - before} users created, {count} ensured ({prefix}N@{domain}, one shared password hash)"))
