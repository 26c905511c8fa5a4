"""Signals of the accounts app (declarations only; accounts.receivers connects the model hooks).

`credentials_changed` fires when a user's existing tokens must stop working: password change,
deactivation, deletion. accounts never imports tokens; tokens subscribes to this signal.
`users_bulk_updated` fires after a queryset update touched fields that /me shows or that gate
access, which model signals do not see.
"""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: user_id (int), reason (str)
credentials_changed = Signal()
# kwargs: user_ids (list[int]), deactivated (set[int]: those of user_ids inactive now)
users_bulk_updated = Signal()
