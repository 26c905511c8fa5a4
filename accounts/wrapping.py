"""Wrapping every weak stored hash inside Argon2id, as a resumable bulk job.

`start` scans the users once, stores the ids of weak hashes in batches and enqueues one task
per batch on the bulk queue. Each batch computes the wrapped hashes outside any transaction,
then writes them in one transaction with a compare-and-swap per row: a hash that changed
meanwhile (a login replaced it, a password change) is left alone. A rerun resumes the
unfinished job instead of starting another; a batch never runs twice.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Case, CharField, Q, Value, When

from accounts import hashformats, jobs, passwords
from accounts.job_models import Job, JobBatch
from accounts.models import User

logger = logging.getLogger(__name__)

# (user id, hash read, wrapped hash or None when it needs no wrap or could not be wrapped)
Plan = list[tuple[int, str, str | None]]


def weak_user_ids(chunk: int = 5000) -> Iterator[int]:
    """Ids of users whose stored hash is weak, in id order (streamed)."""
    rows = User.objects.values_list("pk", "password").order_by("pk").iterator(chunk_size=chunk)
    for pk, encoded in rows:
        if passwords.classify(encoded).status == hashformats.WEAK:
            yield pk


def _batches(ids: Iterator[int], size: int) -> Iterator[dict[str, Any]]:
    batch: list[int] = []
    for pk in ids:
        batch.append(pk)
        if len(batch) >= size:
            yield {"user_ids": batch, "size": len(batch)}
            batch = []
    if batch:
        yield {"user_ids": batch, "size": len(batch)}


def start(started_by: str) -> tuple[Job, bool]:
    """Resume the unfinished wrap job, or create one; enqueue its batches. (job, resumed)."""
    job = jobs.unfinished(Job.Kind.WRAP)
    resumed = job is not None
    if job is None:
        job = jobs.create(Job.Kind.WRAP, started_by, _batches(weak_user_ids(), settings.WRAP_BATCH_SIZE))
    jobs.enqueue(job)
    return job, resumed


def start_for(user_ids: Iterable[int], started_by: str) -> Job:
    """A new wrap job for the weak hashes among `user_ids` (a staff selection), enqueued."""
    ids = sorted(set(user_ids))
    weak = (pk for pk, encoded in User.objects.filter(pk__in=ids).values_list("pk", "password").order_by("pk")
            if passwords.classify(encoded).status == hashformats.WEAK)
    job = jobs.create(Job.Kind.WRAP, started_by, _batches(weak, settings.WRAP_BATCH_SIZE),
                      options={jobs.SELECTION: len(ids)})
    jobs.enqueue(job)
    return job


def prepare(batch: JobBatch) -> Plan:
    """Read the batch's users and compute their wrapped hashes (the Argon2 work; no locks)."""
    plan: Plan = []
    for pk, encoded in User.objects.filter(pk__in=batch.user_ids).values_list("pk", "password"):
        try:
            plan.append((pk, encoded, passwords.wrap(encoded)))
        except Exception:  # noqa: BLE001 - one bad row must not stop the batch; it is counted failed
            logger.exception("could not wrap a stored hash", extra={"user_id": pk})
            plan.append((pk, encoded, ""))
    return plan


def apply(batch: JobBatch, plan: Plan) -> tuple[int, int, dict[str, Any]]:
    """Write the wrapped hashes, each only if the row still holds the hash that was read."""
    failed = sum(1 for _, _, new in plan if new == "")
    writes = [(pk, old, new) for pk, old, new in plan if new]
    wrapped = 0
    if writes:
        # One statement for the batch, still a compare-and-swap per row: a row is matched only
        # with the hash it had when read.
        unchanged = functools.reduce(operator.or_, (Q(pk=pk, password=old) for pk, old, _ in writes))
        # The plain QuerySet update, as for a login's rehash: the password stays the same, so
        # this is not a credential change and no session ends.
        wrapped = models.QuerySet.update(User.objects.filter(unchanged), password=Case(
            *(When(pk=pk, then=Value(new)) for pk, _, new in writes), output_field=CharField()))
    # Users deleted since the scan, or whose hash changed, count as done for this job: it leaves
    # their new hash alone, which may be weak again (an import update); the inventory shows it
    # and the next --wrap run wraps it.
    return len(batch.user_ids) - failed, failed, {"wrapped": wrapped}


def run_batch(batch_id: int) -> bool:
    """Run one batch of a wrap job (from its Celery task)."""
    return jobs.run_batch(batch_id, prepare, apply)
