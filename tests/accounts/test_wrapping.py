"""Wrap jobs run batch by batch in this process: exactly-once batches, compare-and-swap per row,
cancellation, the inventory command, and the jobs admin page."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from accounts import hashformats, jobs, passwords, wrapping
from accounts.job_models import Job, JobBatch
from accounts.models import User
from tests.support.legacy import FORMATS, PASSWORDS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cheap_argon2")]


@pytest.fixture
def cheap_argon2():  # type: ignore[no-untyped-def]
    # The behaviour under test does not depend on the Argon2 cost.
    with override_settings(ARGON2_MEMORY_COST=1024, ARGON2_TIME_COST=1, WRAP_BATCH_SIZE=3):
        yield


def make_users(n: int, name: str = "django_md5") -> list[User]:
    make = FORMATS[name][0]
    return User.objects.bulk_create([User(email=f"u{i}@example.com", password=passwords.importable(
        make(PASSWORDS[i % len(PASSWORDS)]))) for i in range(n)])


def new_job() -> Job:
    return jobs.create(Job.Kind.WRAP, "test", wrapping._batches(wrapping.weak_user_ids(), 3))


def test_a_job_wraps_every_weak_hash_once_and_counts_exactly() -> None:
    users = make_users(7)
    User.objects.create_user("strong@example.com", "a strong password 12")
    job = new_job()
    assert job.total == 7 and job.batches.count() == 3
    batch_ids = list(job.batches.values_list("pk", flat=True))
    assert all(wrapping.run_batch(pk) for pk in batch_ids)
    assert not any(wrapping.run_batch(pk) for pk in batch_ids)  # a redelivered message does nothing
    job.refresh_from_db()
    assert (job.state, job.done, job.failed) == (Job.State.DONE, 7, 0) and job.finished_at is not None
    for i, user in enumerate(users):
        stored = User.objects.get(pk=user.pk).password
        assert passwords.classify(stored).status == hashformats.WRAPPED
        assert passwords.verify(PASSWORDS[i % len(PASSWORDS)], stored).valid
    assert not list(wrapping.weak_user_ids())


def test_a_login_upgrade_between_read_and_write_wins() -> None:
    user = make_users(1)[0]
    job = new_job()
    upgraded = passwords.hash_password(PASSWORDS[0])

    def prepare_then_login(batch: JobBatch) -> wrapping.Plan:
        plan = wrapping.prepare(batch)
        User.objects.filter(pk=user.pk).update(password=upgraded)  # a login's compare-and-swap
        return plan

    assert jobs.run_batch(job.batches.get().pk, prepare_then_login, wrapping.apply)
    assert User.objects.get(pk=user.pk).password == upgraded
    job.refresh_from_db()
    assert job.state == Job.State.DONE and job.done == 1


def test_a_cancelled_job_runs_no_more_batches() -> None:
    make_users(4)
    job = new_job()
    first, second = job.batches.order_by("number").values_list("pk", flat=True)
    assert wrapping.run_batch(first)
    assert jobs.cancel([job.pk]) == 1
    assert not wrapping.run_batch(second)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.done == 3
    assert len(list(wrapping.weak_user_ids())) == 1


def test_no_weak_hash_makes_an_empty_finished_job() -> None:
    User.objects.create_user("strong@example.com", "a strong password 12")
    job = new_job()
    assert (job.state, job.total) == (Job.State.DONE, 0)


def test_inventory_lists_kinds_parameters_and_statuses() -> None:
    make_users(2, "django_pbkdf2_sha1")
    User.objects.create_user("strong@example.com", "a strong password 12")
    User.objects.create_user("nopass@example.com", None)
    out = io.StringIO()
    call_command("rehash_passwords", stdout=out)
    text = out.getvalue()
    assert "weak           pbkdf2_sha1            iterations=1000" in text
    assert "current        argon2id               m=1024,t=1,p=1" in text
    assert "total 4: current 1, outdated 0, weak 2, wrapped 0, beyond_limits 0, unusable 1" in text
    with pytest.raises(CommandError):
        call_command("rehash_passwords", "--wait")


def test_jobs_admin_shows_progress_and_only_cancels(admin_client: Client) -> None:
    make_users(4)
    job = new_job()
    wrapping.run_batch(job.batches.order_by("number").first().pk)  # type: ignore[union-attr]
    page = admin_client.get("/admin/accounts/job/", secure=True)
    assert page.status_code == 200 and b"75.0 %" in page.content
    assert admin_client.get(f"/admin/accounts/job/{job.pk}/change/", secure=True).status_code == 200
    assert admin_client.get("/admin/accounts/job/add/", secure=True).status_code == 403
    admin_client.post("/admin/accounts/job/", {"action": "cancel", "_selected_action": [job.pk]}, secure=True)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED


def test_wrapping_is_not_a_credential_change_sessions_stay() -> None:
    from tests.support.tokens import issue_pair
    from tokens.models import Session

    user = make_users(1)[0]
    issue_pair(user)
    job = new_job()
    assert wrapping.run_batch(job.batches.get().pk)
    assert passwords.classify(User.objects.get(pk=user.pk).password).status == hashformats.WRAPPED
    assert Session.objects.get(user=user).revoked_at is None
