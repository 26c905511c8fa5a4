"""Browser sessions: a login through the web pages is a Session like an API login, without
tokens. The Django session cookie carries only the Session's id; every page request checks
that the Session is still live, so logout-all, an admin revocation, a password change or a
deactivation end the browser session too.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.utils import timezone

from accounts import profiles
from accounts.models import User
from tokens import selectors, services
from tokens.models import Session

# last_used_at is written at most this often per session: a page view is not a write.
TOUCH_EVERY = timedelta(minutes=1)


async def astart(user: User, ip: str, user_agent: str) -> str:
    """Start a session for `user` (just authenticated) and return its id."""
    session, _ = await sync_to_async(services.start_session)(user, ip, user_agent, False)
    await profiles.aforget(user.pk)  # last_login changed
    return str(session.pk)


def _live(session_id: str) -> Session | None:
    try:
        uuid.UUID(session_id)
    except ValueError:
        return None
    now = timezone.now()
    session = (Session.objects.select_related("user")
               .filter(pk=session_id, revoked_at__isnull=True, expires_at__gt=now, user__is_active=True).first())
    if session is not None and now - session.last_used_at > TOUCH_EVERY:
        Session.objects.filter(pk=session.pk).update(last_used_at=now)
        session.last_used_at = now
    return session


async def alive(session_id: str) -> Session | None:
    """The live session with this id (its user loaded), or None when it was revoked, has
    expired, or its account is inactive. The database decides: a page is not the hot path."""
    return await sync_to_async(_live)(session_id)


async def alist(user_id: int, current_session_id: str) -> list[dict[str, object]]:
    """The user's live sessions, the current one marked."""
    return await selectors.alive_sessions(user_id, current_session_id)


async def aend(user_id: int, session_id: str, reason: str = "logout") -> None:
    """Revoke one session of this user (SessionNotFound if it is not theirs or not live)."""
    await sync_to_async(services.revoke_session)(user_id, session_id, reason)


async def aend_all(user_id: int) -> None:
    """Revoke every session of this user, API and browser alike."""
    await sync_to_async(services.revoke_user_sessions)(user_id, "logout_all")
