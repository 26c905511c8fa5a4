"""Signals of the accounts app (declarations only; accounts.receivers connects the model hooks).

`credentials_changed` fires when a user's existing tokens must stop working: password change,
deactivation, deletion. It is always sent inside the transaction that makes the change
(User.save and UserQuerySet.update open one), so receivers act in that transaction: the change
and its consequences commit together. accounts never imports tokens; tokens subscribes to it.
`users_bulk_updated` fires after a queryset update touched fields that /me shows or that gate
access, which model signals do not see.
"""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: user_id (int), reason (str)
credentials_changed = Signal()
# kwargs: user_ids (list[int]), deactivated (set[int]: those of user_ids inactive now),
# password_set (bool: the update wrote their passwords)
users_bulk_updated = Signal()
