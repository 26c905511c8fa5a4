"""What staff do to accounts (the admin's actions): each takes effect at once, API included.

Ending sessions goes through accounts.signals.credentials_changed, which tokens answers by
revoking every session of the user (accounts does not know about tokens).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from accounts import throttling
from accounts.models import User
from accounts.signals import credentials_changed


def _set_active(users: QuerySet[User], active: bool) -> int:
    count = 0
    for user in users.filter(is_active=not active):
        user.is_active = active
        user.save(update_fields=["is_active"])  # deactivating ends the sessions (accounts.receivers)
        count += 1
    return count


def deactivate(users: QuerySet[User]) -> int:
    """Deactivate active users; each save ends their sessions (accounts.receivers)."""
    return _set_active(users, False)


def reactivate(users: QuerySet[User]) -> int:
    """Let inactive users log in again (their old sessions stay ended)."""
    return _set_active(users, True)


def revoke_sessions(user_ids: Iterable[int]) -> int:
    """End every session (API and browser) of these users."""
    count = 0
    for user_id in user_ids:
        credentials_changed.send(sender=User, user_id=user_id, reason="admin_revoke")
        count += 1
    return count


def unlock(users: QuerySet[User]) -> int:
    """Clear the failed-login counters of these accounts (every address); returns how many existed."""
    return sum(throttling.unlock(email) for email in users.values_list("email", flat=True))

