"""Reads of token data for the views (services write, selectors read)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.utils import timezone

from tokens.models import Session


def live_sessions(user_id: int, current_session_id: str) -> list[dict[str, Any]]:
    """The user's sessions that can still be used, newest first; `current` marks the caller's."""
    now = timezone.now()
    rows = Session.objects.filter(user_id=user_id, revoked_at__isnull=True, expires_at__gt=now)
    return [
        {"id": str(s.pk), "created_at": s.created_at, "last_used_at": s.last_used_at, "ip": s.ip,
         "user_agent": s.user_agent, "current": str(s.pk) == current_session_id}
        for s in rows
    ]


async def alive_sessions(user_id: int, current_session_id: str) -> list[dict[str, Any]]:
    """Async twin of `live_sessions`."""
    return await sync_to_async(live_sessions)(user_id, current_session_id)
