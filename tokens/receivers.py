"""Signal handlers: account changes that must end a user's sessions."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from accounts.signals import credentials_changed
from tokens.services import revoke_user_sessions


@receiver(credentials_changed)
def _end_sessions(sender: object, user_id: int, reason: str, **kwargs: Any) -> None:
    revoke_user_sessions(user_id, reason)
