"""Account lifecycle signals, and the model hooks that send them.

`credentials_changed` fires when a user's existing tokens must stop working: password change,
deactivation, deletion. accounts never imports tokens; tokens subscribes to this signal.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import Signal, receiver

from accounts import profiles
from accounts.models import User

# kwargs: user_id (int), reason (str)
credentials_changed = Signal()


@receiver(pre_save, sender=User)
def _remember_previous(sender: type[User], instance: User, **kwargs: Any) -> None:
    if instance.pk is None or kwargs.get("raw"):
        instance._authsite_previous = None  # type: ignore[attr-defined]
        return
    instance._authsite_previous = (  # type: ignore[attr-defined]
        User.objects.filter(pk=instance.pk).values_list("password", "is_active").first()
    )


@receiver(post_save, sender=User)
def _announce_changes(sender: type[User], instance: User, created: bool, **kwargs: Any) -> None:
    if not created:
        profiles.forget(instance.pk)
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
    profiles.forget(instance.pk)
    credentials_changed.send(sender=User, user_id=instance.pk, reason="deleted")


def bulk_updated(user_ids: list[int], inactive: set[int]) -> None:
    """Called by UserQuerySet.update: the same consequences as saving each user."""
    for user_id in user_ids:
        profiles.forget(user_id)
        if user_id in inactive:
            credentials_changed.send(sender=User, user_id=user_id, reason="deactivated")
