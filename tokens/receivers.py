"""Signal handlers: account changes that must end a user's sessions, and session deletion."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.utils import timezone

from accounts.signals import credentials_changed
from tokens import revocation
from tokens.models import Session


@receiver(credentials_changed)
def _end_sessions(sender: object, user_id: int, reason: str, **kwargs: Any) -> None:
    # In the sender's transaction: the credential change and the end of the sessions commit
    # together, and Redis hears of it only after that commit.
    revocation.revoke_sessions(reason=reason, user_id=user_id)


@receiver(pre_delete, sender=Session)
def _revoke_before_delete(sender: type[Session], instance: Session, **kwargs: Any) -> None:
    """Deleting a session (admin, shell, purge, a cascade) revokes it first: its access
    tokens must stop working everywhere, and the journal remembers it after the row is gone."""
    horizon = timezone.now() - timedelta(seconds=revocation.key_ttl())
    if instance.revoked_at is None and instance.expires_at > horizon:
        revocation.journal([instance.pk], timezone.now())
