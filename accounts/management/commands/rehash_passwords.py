"""`manage.py rehash_passwords [--wrap [--wait]]`: hash inventory, and wrapping of weak hashes."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import inventory, jobs, wrapping
from accounts.management.commands.import_users import operator
from accounts.management.progress import Progress


class Command(BaseCommand):
    help = ("Print how many users hold each kind of password hash (per parameter set and status). "
            "With --wrap, start (or resume) a Celery job on the bulk queue that wraps every weak hash "
            "inside Argon2id; --wait follows it to its end.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--wrap", action="store_true", help="enqueue the job that wraps every weak hash")
        parser.add_argument("--wait", action="store_true", help="with --wrap: follow the job with a progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["wait"] and not options["wrap"]:
            raise CommandError("--wait only makes sense with --wrap")
        self.print_inventory()
        if not options["wrap"]:
            return
        job, resumed = wrapping.start(operator())
        verb = "resumed" if resumed else "started"
        self.stdout.write(f"wrap job {job.pk} {verb}: {job.total} weak hashes, {job.done + job.failed} handled "
                          "so far; workers on queue 'bulk' run it")
        if not options["wait"]:
            return
        bar = Progress(job.total, "users", self.stderr._out, f"wrap job {job.pk}")
        for current in jobs.follow(job.pk):
            bar.to(current.done + current.failed)
        bar.close()
        self.stdout.write(f"wrap job {job.pk} {current.state}: {current.done} done, {current.failed} failed")
        if current.last_error:
            self.stdout.write(f"last error: {current.last_error}")
        remaining = self.print_inventory().by_status()["weak"]
        if remaining:
            self.stdout.write(f"{remaining} weak hashes arrived after this job was created: run --wrap again")
        if current.state != current.State.DONE:
            raise CommandError(f"wrap job {job.pk} ended {current.state}")

    def print_inventory(self) -> inventory.Inventory:
        taken = inventory.take()
        self.stdout.write(f"{'status':<14} {'kind':<22} {'parameters':<34} {'users':>9}")
        for status, kind, params, n in taken.rows():
            self.stdout.write(f"{status:<14} {kind:<22} {params:<34} {n:>9}")
        totals = ", ".join(f"{status} {n}" for status, n in taken.by_status().items())
        self.stdout.write(f"total {taken.total}: {totals}")
        return taken
