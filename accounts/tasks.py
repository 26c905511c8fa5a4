"""Celery tasks of the accounts app: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from accounts import throttling


@shared_task(name="accounts.tasks.purge_expired_counters")
def purge_expired_counters() -> int:
    """Periodic: drop database throttle counters whose window has ended."""
    return throttling.purge_expired()
