"""Bulk job tasks (accounts/tasks.py): a batch that fails for good fails its job, with the
error's type only, and leaves no staged legacy hash behind."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection

from accounts import importing, jobs, tasks
from accounts.job_models import Job, JobBatch
from accounts.models import User

pytestmark = pytest.mark.django_db

EMAIL = "p@example.com"
LEGACY = "md5$$" + "0" * 32


def _staged_update_of_an_unreadable_row() -> tuple[Job, JobBatch]:
    """An update import whose existing row the database cannot hand back (a corrupt date)."""
    user = User.objects.create_user(EMAIL, "x" * 20)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_user SET date_joined = '10000-01-01 04:59:59+00' WHERE id = %s", [user.pk])
    lines = b"".join(json.dumps({"email": f"{n}{EMAIL}", "password_hash": LEGACY}).encode() + b"\n"
                     for n in ("", "a", "b"))
    job, _ = importing.stage_file(io.BytesIO(lines), "update", "test", lambda rejection: None)
    return job, JobBatch.objects.get(job=job)


def test_a_batch_error_that_is_not_transient_fails_the_job_with_its_type_only() -> None:
    job, batch = _staged_update_of_an_unreadable_row()
    result = tasks.import_batch.apply(args=[job.pk, batch.pk])
    assert result.state == "FAILURE"
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.last_error == f"batch {batch.pk}: DataError"
    # Followers (import_users --via-celery, rehash_passwords --wait) stop at a failed job.
    assert [state.state for state in jobs.follow(job.pk, poll=0)] == [Job.State.FAILED]


def test_a_failed_import_keeps_no_staged_hashes() -> None:
    job, batch = _staged_update_of_an_unreadable_row()
    assert "0" * 32 in batch.lines
    tasks.import_batch.apply(args=[job.pk, batch.pk])
    assert list(JobBatch.objects.filter(job=job).values_list("lines", flat=True)) == [""]


def test_a_cancelled_or_finished_import_keeps_no_staged_hashes() -> None:
    lines = json.dumps({"email": EMAIL, "password_hash": LEGACY}).encode() + b"\n"
    cancelled, _ = importing.stage_file(io.BytesIO(lines), "skip", "test", lambda rejection: None)
    jobs.cancel([cancelled.pk])
    finished, _ = importing.stage_file(io.BytesIO(lines), "skip", "test", lambda rejection: None)
    tasks.import_batch.apply(args=[finished.pk, JobBatch.objects.get(job=finished).pk])
    finished.refresh_from_db()
    assert finished.state == Job.State.DONE
    assert set(JobBatch.objects.values_list("lines", flat=True)) == {""}
