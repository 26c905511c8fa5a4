"""The user model: email is the identifier, unique in its canonical form."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.emails import canonical_email
from accounts.signals import users_bulk_updated

# Fields whose change must reach the profile cache (and, for is_active, end sessions).
WATCHED_FIELDS = frozenset({"email", "is_staff", "is_active", "date_joined"})


class UserQuerySet(models.QuerySet["User"]):
    def update(self, **kwargs: Any) -> int:
        """A bulk update bypasses model signals; one that touches what /me shows or
        deactivates users is announced (accounts.signals.users_bulk_updated)."""
        if not WATCHED_FIELDS.intersection(kwargs):
            return super().update(**kwargs)
        pks = list(self.values_list("pk", flat=True))
        count = super().update(**kwargs)
        # Which users are inactive now is read back: is_active may have been set by an
        # expression (bulk_update uses Case/When) or a value like 0.
        deactivated = (set(User.objects.filter(pk__in=pks, is_active=False).values_list("pk", flat=True))
                       if "is_active" in kwargs else set())
        users_bulk_updated.send(sender=User, user_ids=pks, deactivated=deactivated)
        return count

    update.alters_data = True  # type: ignore[attr-defined]


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email=canonical_email(username or ""))

    def _create(self, email: str, password: str | None, **extra: Any) -> "User":
        user = self.model(email=canonical_email(email), **extra)
        # Sync path (manage.py createsuperuser, admin, tests): hashing on this thread is fine.
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """An account. `email` always holds the canonical form (see accounts.emails)."""

    email = models.EmailField("email address", max_length=254, unique=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            # Defence in depth: even a write that bypasses canonical_email cannot create a
            # second account differing only by case.
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def clean(self) -> None:
        super().clean()
        self.email = canonical_email(self.email)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = canonical_email(self.email)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.email


class ThrottleCounter(models.Model):
    """Failed-login counter in the database: the store when Redis is unset or down."""

    key = models.CharField(max_length=100, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
