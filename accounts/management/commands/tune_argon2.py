"""`manage.py tune_argon2 --target-ms MS --max-memory MIB`: Argon2id parameters for this machine."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import tuning


class Command(BaseCommand):
    help = ("Measure this machine and print Argon2id parameters whose hash takes about --target-ms within "
            "--max-memory, the environment lines that set them and the logins per second per core they allow.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--target-ms", type=float, default=50.0, help="time of one hash, milliseconds (50)")
        parser.add_argument("--max-memory", type=int, default=64, help="memory budget per hash, MiB (64)")
        parser.add_argument("--parallelism", type=int, default=1, help="lanes per hash (1)")

    def handle(self, *args: Any, **options: Any) -> None:
        target, budget, lanes = options["target_ms"], options["max_memory"], options["parallelism"]
        if not 1 <= target <= 60_000:
            raise CommandError("--target-ms must be between 1 and 60000")
        if not 8 <= budget <= 64 * 1024:
            raise CommandError("--max-memory must be between 8 and 65536 MiB")
        if not 1 <= lanes <= 64:
            raise CommandError("--parallelism must be between 1 and 64")
        result = tuning.tune(target / 1000, budget * 1024, lanes)
        self.stdout.write(f"Argon2id m={result.memory_kib} KiB ({result.memory_kib // 1024} MiB), t={result.time_cost}, "
                          f"p={result.parallelism}: {result.seconds * 1000:.1f} ms per hash on this machine")
        self.stdout.write(f"about {result.logins_per_core:.1f} logins/s per core (one hash per login)")
        self.stdout.write("environment:")
        for line in result.environment():
            self.stdout.write(f"  {line}")
        if not result.meets_owasp:
            self.stderr.write(self.style.WARNING(
                "warning: below the OWASP minimum for Argon2id (e.g. m=19456 KiB with t=2, or m=47104 KiB with t=1); "
                "raise --target-ms or --max-memory"))
        if result.seconds > target / 1000 * 1.1:
            self.stderr.write(self.style.WARNING(
                f"warning: even the smallest setting tried takes {result.seconds * 1000:.1f} ms, over the target"))
