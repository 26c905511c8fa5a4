"""Bulk jobs on Celery: create a job with its batches, enqueue one task per batch, run a batch
in its own transaction exactly once, follow, cancel, report progress.

Tasks receive a job id and a batch id, never data: what a batch works on is stored in its row.
A batch is marked finished in the same transaction as its work, so a message delivered twice
(a worker killed after committing, or a rerun) does nothing the second time, and a rerun of
an unfinished job enqueues exactly the batches not finished yet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from celery import current_app
from django.db import transaction
from django.utils import timezone

from accounts.job_models import Job, JobBatch
from authsite.kit import metrics

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The Celery task that runs one batch of each kind of job.
TASK_OF = {Job.Kind.WRAP: "accounts.tasks.wrap_batch", Job.Kind.IMPORT: "accounts.tasks.import_batch"}
BULK_QUEUE = "bulk"
RESUMABLE = (Job.State.PENDING, Job.State.RUNNING, Job.State.FAILED)
# Option key of a job started for users staff selected (accounts.wrapping.start_for).
SELECTION = "selection"


def create(kind: str, started_by: str, batches: Iterable[dict[str, Any]], options: dict[str, Any] | None = None,
           chunk: int = 500) -> Job:
    """Create a job and its batches (each a dict of JobBatch fields, `size` included)."""
    with transaction.atomic():
        job = Job.objects.create(kind=kind, started_by=started_by[:254], options=options or {})
        total = 0
        pending: list[JobBatch] = []
        for number, fields in enumerate(batches):
            pending.append(JobBatch(job=job, number=number, **fields))
            total += fields["size"]
            if len(pending) >= chunk:
                JobBatch.objects.bulk_create(pending)
                pending.clear()
        JobBatch.objects.bulk_create(pending)
        job.total = total
        if total == 0:
            job.state, job.started_at, job.finished_at = Job.State.DONE, timezone.now(), timezone.now()
        job.save()
    report_progress(job)
    return job


def unfinished(kind: str) -> Job | None:
    """The latest job of this kind that has batches left (pending, running or failed). A job
    started for a staff selection (options "selection") is not the one a command resumes."""
    return (Job.objects.filter(kind=kind, state__in=RESUMABLE).exclude(options__has_key=SELECTION)
            .order_by("-created_at").first())


def enqueue(job: Job) -> int:
    """Send one task per unfinished batch to the bulk queue; return how many were sent.

    A failed job becomes pending again: its remaining batches get another chance.
    """
    Job.objects.filter(pk=job.pk, state=Job.State.FAILED).update(state=Job.State.PENDING, finished_at=None)
    ids = list(JobBatch.objects.filter(job=job, finished=False).order_by("number").values_list("pk", flat=True))
    for batch_id in ids:
        current_app.send_task(TASK_OF[job.kind], args=[job.pk, batch_id], queue=BULK_QUEUE)
    return len(ids)


def run_batch(batch_id: int, prepare: Callable[[JobBatch], T],
              apply: Callable[[JobBatch, T], tuple[int, int, dict[str, Any]]]) -> bool:
    """Run one batch: `prepare` outside any transaction (slow work, no locks held), then
    `apply` inside the batch's transaction, which returns (done, failed, result).

    Returns False when there was nothing to do: the batch is finished already, or its job
    was cancelled.
    """
    batch = JobBatch.objects.select_related("job").filter(pk=batch_id).first()
    if batch is None or batch.finished or batch.job.state not in Job.UNFINISHED:
        return False
    Job.objects.filter(pk=batch.job_id, state=Job.State.PENDING).update(
        state=Job.State.RUNNING, started_at=timezone.now())
    plan = prepare(batch)
    with transaction.atomic():
        # The job row lock orders batch commits: the last one to finish sees every other
        # batch finished and closes the job.
        job = Job.objects.select_for_update().get(pk=batch.job_id)
        locked = JobBatch.objects.select_for_update().get(pk=batch_id)
        if locked.finished or job.state not in Job.UNFINISHED:
            return False
        done, failed, result = apply(locked, plan)
        locked.finished, locked.lines, locked.result = True, "", result
        locked.save(update_fields=["finished", "lines", "result"])
        job.done += done
        job.failed += failed
        if not JobBatch.objects.filter(job=job, finished=False).exists():
            job.state, job.finished_at = Job.State.DONE, timezone.now()
        job.save(update_fields=["done", "failed", "state", "finished_at"])
    report_progress(job)
    return True


def record_error(job_id: int, message: str) -> None:
    """A batch gave up (after its retries): the job is failed until a rerun resumes it. An
    import is never resumed (a rerun stages its file again): its staged lines, which hold
    legacy hashes, are dropped."""
    with transaction.atomic():
        Job.objects.filter(pk=job_id, state__in=Job.UNFINISHED).update(
            state=Job.State.FAILED, last_error=message[:2000], finished_at=timezone.now())
        JobBatch.objects.filter(job_id=job_id, job__kind=Job.Kind.IMPORT, finished=False).update(lines="")
    logger.error("bulk job batch gave up", extra={"job_id": job_id, "error": message[:200]})


def cancel(job_ids: Iterable[int]) -> int:
    """Stop unfinished jobs: batches not started yet will not run, and drop their staged data."""
    with transaction.atomic():
        ids = list(Job.objects.select_for_update().filter(pk__in=list(job_ids), state__in=RESUMABLE)
                   .values_list("pk", flat=True))
        Job.objects.filter(pk__in=ids).update(state=Job.State.CANCELLED, finished_at=timezone.now())
        JobBatch.objects.filter(job__in=ids, finished=False).update(lines="")
    return len(ids)


def follow(job_id: int, poll: float = 0.5) -> Iterator[Job]:
    """Yield the job each time it is read, until it is no longer pending or running."""
    while True:
        job = Job.objects.get(pk=job_id)
        yield job
        if job.state not in Job.UNFINISHED:
            return
        time.sleep(poll)


def report_progress(job: Job | None = None) -> None:
    """Publish progress on the job-progress gauge: `job`, or every job not finished long ago."""
    jobs = [job] if job is not None else Job.objects.filter(state__in=Job.UNFINISHED)
    for item in jobs:
        metrics.report_job_progress(f"{item.kind}-{item.pk}", item.done + item.failed, item.total)
