"""Importing users from JSON Lines: `{"email", "password_hash", "is_active"?, "is_staff"?,
"date_joined"?}` per line.

The file is streamed line by line (a line longer than MAX_LINE_BYTES is refused without being
read into memory) and written in batches with one bulk insert each. No hash is computed: a
hash is only parsed, checked against the cost limits and given its stored form. Every line
that does not become a user is reported with its number and reason; rows whose email exists
already are skipped or updated (`on_conflict`), so importing a file twice creates nothing new.

With Celery, the file is parsed here and its valid rows are staged in job batches; each batch
task then does the database part (accounts.jobs), and the report collects their verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone as dt_timezone
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import hashformats, inventory, jobs, passwords
from accounts.emails import clean_email
from accounts.job_models import Job, JobBatch
from accounts.models import User

MAX_LINE_BYTES = 64 * 1024
ON_CONFLICT = ("skip", "update")


@dataclass(frozen=True)
class Rejection:
    """A line that did not become a user: why (never any part of its hash)."""

    line: int
    email: str
    reason: str


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    password: str
    is_active: bool = True
    is_staff: bool = False
    date_joined: str | None = None  # ISO 8601, timezone-aware


@dataclass
class Outcome:
    lines: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)


def read_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, line or None when too long, bytes consumed), streamed."""
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        consumed = len(raw)
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                consumed += len(rest)
            yield number, None, consumed + len(rest)
        else:
            yield number, raw, consumed


def _flag(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _date(data: dict[str, Any]) -> str | None:
    value = data.get("date_joined")
    if value is None:
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError("date_joined must be an ISO 8601 date-time")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=dt_timezone.utc)
    # Dates at the ends of the calendar are stored but cannot be read back once shifted to UTC.
    try:
        parsed = parsed.astimezone(dt_timezone.utc)
    except OverflowError:
        raise ValueError("date_joined out of range") from None
    if not 1900 <= parsed.year <= 9998:
        raise ValueError("date_joined out of range")
    return parsed.isoformat()


def parse(number: int, raw: bytes | None) -> Row | Rejection | None:
    """One line -> a row to write, a rejection, or None for a blank line."""
    if raw is None:
        return Rejection(number, "", f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection(number, "", "not UTF-8")
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return Rejection(number, "", "not valid JSON")
    if not isinstance(data, dict):
        return Rejection(number, "", "not a JSON object")
    raw_email = data.get("email")
    if not isinstance(raw_email, str):
        return Rejection(number, "", "email missing or not a string")
    shown = raw_email[:320]
    try:
        email = clean_email(raw_email)
    except ValidationError:
        return Rejection(number, shown, "malformed email")
    if not isinstance(data.get("password_hash"), str):
        return Rejection(number, shown, "password_hash missing or not a string")
    try:
        stored = passwords.importable(data["password_hash"])
        return Row(number, email, stored, _flag(data, "is_active", True), _flag(data, "is_staff", False), _date(data))
    except (hashformats.UnsupportedHash, ValueError) as exc:
        return Rejection(number, shown, str(exc))


class Importer:
    """Writes parsed rows in batches: one bulk insert per batch, conflicts skipped or updated."""

    def __init__(self, on_conflict: str, report: Callable[[Rejection], None], boundary: int | None = None,
                 batch_size: int | None = None):
        assert on_conflict in ON_CONFLICT
        self.on_conflict, self.report = on_conflict, report
        self.batch_size = batch_size or settings.IMPORT_BATCH_SIZE
        # Users with a larger id were created during this import: an email found among them
        # is a duplicate line of the file, not a pre-existing account.
        self.boundary = boundary if boundary is not None else current_boundary()
        self.outcome = Outcome()
        self._pending: list[Row] = []
        self._updated: set[int] = set()

    def add(self, number: int, raw: bytes | None) -> None:
        self.outcome.lines += 1
        parsed = parse(number, raw)
        if isinstance(parsed, Rejection):
            self._reject(parsed)
        elif parsed is not None:
            self.add_row(parsed)

    def add_row(self, row: Row) -> None:
        self._pending.append(row)
        if len(self._pending) >= self.batch_size:
            self.flush()

    def _reject(self, rejection: Rejection) -> None:
        self.outcome.rejected += 1
        self.report(rejection)

    def flush(self) -> None:
        rows, self._pending = self._pending, []
        if not rows:
            return
        first: dict[str, int] = {}
        unique: list[Row] = []
        for row in rows:
            if row.email in first:
                self._reject(Rejection(row.line, row.email, f"duplicate email (same as line {first[row.email]})"))
            else:
                first[row.email] = row.line
                unique.append(row)
        existing = {email: (pk, old, joined) for email, pk, old, joined in
                    User.objects.filter(email__in=list(first)).values_list("email", "pk", "password", "date_joined")}
        creates, updates = [], []
        for row in unique:
            found = existing.get(row.email)
            if found is None:
                creates.append(row)
            elif found[0] > self.boundary or found[0] in self._updated:
                self._reject(Rejection(row.line, row.email, "duplicate email (an earlier line has it)"))
            elif self.on_conflict == "skip":
                self.outcome.skipped += 1
                self.report(Rejection(row.line, row.email, "skipped: the account exists"))
            else:
                updates.append((row, found))
        with transaction.atomic():
            self._create(creates)
            self._update(updates)

    def _user(self, row: Row, pk: int | None = None, joined: datetime | None = None) -> User:
        when = datetime.fromisoformat(row.date_joined) if row.date_joined else joined or timezone.now()
        return User(pk=pk, email=row.email, password=row.password, is_active=row.is_active, is_staff=row.is_staff,
                    date_joined=when)

    def _create(self, rows: list[Row]) -> None:
        try:
            with transaction.atomic():
                User.objects.bulk_create([self._user(row) for row in rows])
            self.outcome.created += len(rows)
            return
        except IntegrityError:
            pass  # an account appeared meanwhile: find which, row by row
        for row in rows:
            try:
                with transaction.atomic():
                    User.objects.bulk_create([self._user(row)])
                self.outcome.created += 1
            except IntegrityError:
                self._reject(Rejection(row.line, row.email, "duplicate email (the account appeared meanwhile)"))

    def _update(self, updates: list[tuple[Row, tuple[int, str, datetime]]]) -> None:
        if not updates:
            return
        users = [self._user(row, pk, joined) for row, (pk, _, joined) in updates]
        # A bulk update that sets passwords is announced like a password change: the sessions
        # of these users end (accounts.models.UserQuerySet.update).
        User.objects.bulk_update(users, ["password", "is_active", "is_staff", "date_joined"])
        self.outcome.updated += len(users)
        self._updated.update(pk for _, (pk, _, _) in updates)


def current_boundary() -> int:
    return User.objects.aggregate(top=Max("pk"))["top"] or 0


def import_file(stream: IO[bytes], on_conflict: str, report: Callable[[Rejection], None],
                progress: Callable[[int], None] = lambda n: None) -> Outcome:
    """Import every line of `stream` here, in this process."""
    importer = Importer(on_conflict, report)
    for number, raw, consumed in read_lines(stream):
        importer.add(number, raw)
        progress(consumed)
    importer.flush()
    inventory.take()
    return importer.outcome


def stage_file(stream: IO[bytes], on_conflict: str, started_by: str, report: Callable[[Rejection], None],
               progress: Callable[[int], None] = lambda n: None) -> tuple[Job, Outcome]:
    """Parse `stream` and stage its valid rows as batches of an import job (not yet enqueued)."""
    outcome = Outcome()

    def batches() -> Iterator[dict[str, Any]]:
        staged: list[str] = []
        for number, raw, consumed in read_lines(stream):
            outcome.lines += 1
            progress(consumed)
            parsed = parse(number, raw)
            if isinstance(parsed, Rejection):
                outcome.rejected += 1
                report(parsed)
            elif parsed is not None:
                staged.append(json.dumps(asdict(parsed)))
                if len(staged) >= settings.IMPORT_BATCH_SIZE:
                    yield {"lines": "\n".join(staged), "size": len(staged)}
                    staged = []
        if staged:
            yield {"lines": "\n".join(staged), "size": len(staged)}

    options = {"on_conflict": on_conflict, "boundary": current_boundary()}
    return jobs.create(Job.Kind.IMPORT, started_by, batches(), options, chunk=20), outcome


def apply_batch(batch: JobBatch, _plan: None) -> tuple[int, int, dict[str, Any]]:
    """Write one staged batch (inside its job transaction); rejections go to the batch result."""
    rejections: list[Rejection] = []
    importer = Importer(batch.job.options["on_conflict"], rejections.append, boundary=batch.job.options["boundary"],
                        batch_size=batch.size + 1)
    for text in batch.lines.splitlines():
        importer.add_row(Row(**json.loads(text)))
    importer.flush()
    counts = importer.outcome
    result = {"created": counts.created, "updated": counts.updated, "skipped": counts.skipped,
              "rejections": [asdict(r) for r in rejections]}
    return counts.created + counts.updated + counts.skipped, counts.rejected, result


def run_batch(batch_id: int) -> bool:
    """Run one staged import batch (from its Celery task)."""
    return jobs.run_batch(batch_id, lambda batch: None, apply_batch)


def staged_rejections(job: Job) -> Iterator[Rejection]:
    """The verdicts the batches of an import job recorded, in line order within each batch."""
    for result in JobBatch.objects.filter(job=job).order_by("number").values_list("result", flat=True).iterator():
        for item in (result or {}).get("rejections", []):
            yield Rejection(**item)


def staged_counts(job: Job) -> dict[str, int]:
    totals = {"created": 0, "updated": 0, "skipped": 0}
    for result in JobBatch.objects.filter(job=job).values_list("result", flat=True).iterator():
        for key in totals:
            totals[key] += (result or {}).get(key, 0)
    return totals
