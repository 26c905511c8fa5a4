"""`manage.py import_users FILE`: import users with their legacy password hashes (JSON Lines)."""

from __future__ import annotations

import csv
import getpass
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import importing, inventory, jobs
from accounts.management.progress import Progress


def operator() -> str:
    """Who runs this command, for the job row."""
    try:
        return f"{getpass.getuser()} (manage.py)"
    except (KeyError, OSError):
        return "manage.py"


class Report:
    """The CSV report of every line that did not become a new user: line, email, reason."""

    def __init__(self, path: Path):
        self.path = path
        self._file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._writer = csv.writer(self._file)
        self._writer.writerow(["line", "email", "reason"])

    def add(self, rejection: importing.Rejection) -> None:
        email = rejection.email
        if email[:1] in ("=", "+", "-", "@"):
            email = "'" + email  # a spreadsheet must not run it as a formula
        self._writer.writerow([rejection.line, email, rejection.reason])

    def close(self) -> None:
        self._file.close()


class Command(BaseCommand):
    help = ('Import users from JSON Lines: {"email", "password_hash", "is_active"?, "is_staff"?, "date_joined"?} '
            "per line. No hash is computed; every line that does not become a user is listed in the report.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--on-conflict", choices=importing.ON_CONFLICT, default="skip",
                            help="an account with the email exists: keep it (skip, default) or overwrite it (update)")
        parser.add_argument("--report", type=Path, help="CSV of rejected and skipped lines (default: FILE.report.csv)")
        parser.add_argument("--via-celery", action="store_true",
                            help="stage the rows in batches and let Celery workers (queue bulk) write them")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below
            size = os.fstat(stream.fileno()).st_size
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        report = Report(options["report"] or path.with_name(path.name + ".report.csv"))
        progress = Progress(size, "bytes", self.stderr._out, f"reading {path.name}", bytes_=True)
        try:
            if options["via_celery"]:
                outcome = self._via_celery(stream, options["on_conflict"], report, progress)
            else:
                outcome = importing.import_file(stream, options["on_conflict"], report.add, progress.advance)
        finally:
            stream.close()
            report.close()
        progress.close()
        self.stdout.write(f"lines {outcome.lines}: created {outcome.created}, updated {outcome.updated}, "
                          f"skipped {outcome.skipped} (existing), rejected {outcome.rejected}")
        self.stdout.write(f"report: {report.path}")

    def _via_celery(self, stream: Any, on_conflict: str, report: Report, progress: Progress) -> importing.Outcome:
        job, outcome = importing.stage_file(stream, on_conflict, operator(), report.add, progress.advance)
        progress.close()
        sent = jobs.enqueue(job)
        self.stderr.write(f"job {job.pk}: {job.total} rows staged in {sent} batches on the bulk queue")
        bar = Progress(job.total, "rows", self.stderr._out, f"import job {job.pk}")
        for current in jobs.follow(job.pk):
            bar.to(current.done + current.failed)
        bar.close()
        if current.state != current.State.DONE:
            raise CommandError(f"job {job.pk} ended {current.state}: {current.last_error}")
        for rejection in importing.staged_rejections(job):
            report.add(rejection)
        counts = importing.staged_counts(job)
        outcome.created, outcome.updated, outcome.skipped = counts["created"], counts["updated"], counts["skipped"]
        outcome.rejected += current.failed
        inventory.take()
        return outcome
