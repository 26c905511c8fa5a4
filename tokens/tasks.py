"""Celery tasks of the tokens app: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from tokens import services


@shared_task(name="tokens.tasks.purge_expired")
def purge_expired() -> dict[str, int]:
    """Periodic: drop expired refresh tokens and long-ended sessions."""
    return services.purge_expired()
