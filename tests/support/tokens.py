"""Token helpers for tests that run synchronously."""

from __future__ import annotations

from asgiref.sync import async_to_sync

from accounts.models import User
from tokens import services


def issue_pair(user: User, ip: str = "", user_agent: str = "") -> services.TokenPair:
    """Log `user` in as the login view does (a new session and its first token pair)."""
    return async_to_sync(services.aissue_pair)(user, ip, user_agent)
