"""Model hooks of the accounts app: a change of a user row drops its cached profile and, when
the user's tokens must stop working, sends `credentials_changed`.

Connected by AccountsConfig.ready().
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import receiver

from accounts import profiles
from accounts.models import User
from accounts.signals import credentials_changed, users_bulk_updated


def _forget(user_id: int) -> None:
    """Drop the cached profile now and again at commit: until then another connection still
    reads the old row, and a /me in between would cache it again."""
    profiles.forget(user_id)
    transaction.on_commit(lambda: profiles.forget(user_id))


@receiver(pre_save, sender=User)
def _remember_previous(sender: type[User], instance: User, **kwargs: Any) -> None:
    if instance.pk is None or kwargs.get("raw"):
        instance._authsite_previous = None  # type: ignore[attr-defined]
        return
    # Locked until the save commits (User.save opens the transaction): a concurrent change of
    # the same row waits, so each one compares against what it really replaces.
    row = (User.objects.select_for_update().filter(pk=instance.pk)
           .values_list("password", "is_active", "email", "email_verified").first())
    instance._authsite_previous = row[:2] if row else None  # type: ignore[attr-defined]
    if row is not None and row[2] != instance.email and row[3] == instance.email_verified \
            and kwargs.get("update_fields") is None:
        # A new address is not verified, unless the same save says it is.
        instance.email_verified = False


@receiver(post_save, sender=User)
def _announce_changes(sender: type[User], instance: User, created: bool, **kwargs: Any) -> None:
    if not created:
        _forget(instance.pk)
    previous = getattr(instance, "_authsite_previous", None)
    if created or previous is None:
        return
    old_password, was_active = previous
    if was_active and not instance.is_active:
        credentials_changed.send(sender=User, user_id=instance.pk, reason="deactivated")
    elif old_password != instance.password:
        credentials_changed.send(sender=User, user_id=instance.pk, reason="password_changed")


@receiver(pre_delete, sender=User)
def _announce_deletion(sender: type[User], instance: User, **kwargs: Any) -> None:
    _forget(instance.pk)
    credentials_changed.send(sender=User, user_id=instance.pk, reason="deleted")


@receiver(users_bulk_updated)
def _announce_bulk_update(sender: object, user_ids: list[int], deactivated: set[int],
                          password_set: bool = False, **kwargs: Any) -> None:
    """The same consequences as saving each user (a bulk password write is a password change
    for every row it touched)."""
    for user_id in user_ids:
        _forget(user_id)
        if user_id in deactivated:
            credentials_changed.send(sender=User, user_id=user_id, reason="deactivated")
        elif password_set:
            credentials_changed.send(sender=User, user_id=user_id, reason="password_changed")
