"""Celery tasks of the accounts app: thin wrappers around services."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from accounts import attempts, importing, inventory, jobs, mail, throttling, wrapping


@shared_task(name="accounts.tasks.purge_expired_counters")
def purge_expired_counters() -> int:
    """Periodic: drop database throttle counters whose window has ended, and login attempts
    past LOGIN_ATTEMPT_RETENTION_DAYS. Returns how many counters were dropped."""
    attempts.purge_expired()
    return throttling.purge_expired()


@shared_task(name="accounts.tasks.take_inventory")
def take_inventory() -> dict[str, int]:
    """Periodic: count users per hash kind (the login failure floor and the metrics read it)."""
    return inventory.take().by_status()


# Database errors worth another try: the connection dropped, the server restarted, a lock timed out.
TRANSIENT = (OperationalError, InterfaceError)


def _run_bulk(task: Task, run: Callable[[int], bool], job_id: int, batch_id: int) -> bool:
    try:
        return run(batch_id)
    except TRANSIENT as exc:
        if task.request.retries >= task.max_retries:
            jobs.record_error(job_id, f"batch {batch_id}: {type(exc).__name__} after {task.request.retries} retries")
            raise
        # Exponential backoff with jitter, capped: a database restart is waited out.
        delay = min(60, 2 ** task.request.retries) * (0.5 + random.random())
        raise task.retry(countdown=delay, exc=exc) from exc
    except Exception as exc:
        # Another try would fail the same way: fail the job so its followers stop. The type
        # only: an error's text can quote row data (emails, hashes).
        jobs.record_error(job_id, f"batch {batch_id}: {type(exc).__name__}")
        raise


@shared_task(name="accounts.tasks.wrap_batch", bind=True, max_retries=8)
def wrap_batch(self: Task, job_id: int, batch_id: int) -> bool:
    """Wrap the weak hashes of one batch of a wrap job (ids only: the batch row lists the users)."""
    return _run_bulk(self, wrapping.run_batch, job_id, batch_id)


@shared_task(name="accounts.tasks.import_batch", bind=True, max_retries=8)
def import_batch(self: Task, job_id: int, batch_id: int) -> bool:
    """Write one staged batch of an import job."""
    return _run_bulk(self, importing.run_batch, job_id, batch_id)


@shared_task(name="accounts.tasks.purge_mail_deliveries")
def purge_mail_deliveries() -> int:
    """Periodic: drop old records of sent mails."""
    return mail.purge_old_deliveries()


def _send(task: Any, kind: str, user_id: int | None) -> str:
    if user_id is None:  # queued for an address without an account: same work, no mail
        return "skipped"
    try:
        return mail.deliver(kind, user_id, task.request.id)
    except mail.TemporaryFailure as exc:
        if task.request.retries >= settings.MAIL_RETRY_LIMIT:
            mail.give_up(task.request.id, kind, user_id)
            return "failed"
        raise task.retry(countdown=mail.backoff(task.request.retries), exc=exc)


# Retries are bounded by MAIL_RETRY_LIMIT in _send (read when the task runs), not by Celery.
@shared_task(bind=True, max_retries=None, name="accounts.tasks.send_password_reset")
def send_password_reset(self: Any, user_id: int | None) -> str:
    """Mail a password-reset link to the account, if it may reset its password."""
    return _send(self, mail.PASSWORD_RESET, user_id)


@shared_task(bind=True, max_retries=None, name="accounts.tasks.send_verification")
def send_verification(self: Any, user_id: int | None) -> str:
    """Mail an email-verification link to the account, if its email is not verified yet."""
    return _send(self, mail.VERIFY_EMAIL, user_id)
