"""The user model: email is the identifier, unique in its canonical form."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models, router, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts import passwords
from accounts.emails import canonical_email
from accounts.job_models import Job, JobBatch  # noqa: F401  (models of this app, registered with it)
from accounts.signals import users_bulk_updated

# Fields whose change must reach the profile cache (and, for is_active and password, end sessions).
WATCHED_FIELDS = frozenset({"email", "email_verified", "is_staff", "is_active", "date_joined", "password"})


class UserQuerySet(models.QuerySet["User"]):
    def update(self, **kwargs: Any) -> int:
        """A bulk update bypasses model signals; one that touches what /me shows, sets
        passwords or deactivates users is announced (accounts.signals.users_bulk_updated) in
        the same transaction as the update."""
        if not WATCHED_FIELDS.intersection(kwargs):
            return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            pks = list(self.values_list("pk", flat=True))
            count = super().update(**kwargs)
            # Which users are inactive now is read back: is_active may have been set by an
            # expression (bulk_update uses Case/When) or a value like 0.
            deactivated = (set(User.objects.filter(pk__in=pks, is_active=False).values_list("pk", flat=True))
                           if "is_active" in kwargs else set())
            users_bulk_updated.send(sender=User, user_ids=pks, deactivated=deactivated,
                                    password_set="password" in kwargs)
        return count

    update.alters_data = True  # type: ignore[attr-defined]

    def store_rehash(self, pk: int, old: str, new: str) -> bool:
        """Replace hash `old` by `new`, an encoding of the SAME password (parameter upgrade),
        unless the hash changed meanwhile. Not a credential change: no session ends."""
        return bool(models.QuerySet.update(self.filter(pk=pk, password=old), password=new))

    store_rehash.alters_data = True  # type: ignore[attr-defined]


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email=canonical_email(username or ""))

    def _create(self, email: str, password: str | None, **extra: Any) -> "User":
        user = self.model(email=canonical_email(email), **extra)
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

    # Room for a wrapped legacy hash (legacy salt and cost plus an Argon2id hash).
    password = models.CharField("password", max_length=256)
    email = models.EmailField("email address", max_length=254, unique=True)
    # Set when the owner followed a verification link (or a reset link) mailed to `email`.
    email_verified = models.BooleanField(default=False, db_default=False)
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
        # One transaction for the row and what its change causes (accounts.receivers: a new
        # password or a deactivation ends the sessions): both happen, or neither.
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            super().save(*args, **kwargs)

    def set_password(self, raw_password: str | None) -> None:
        """Like Django's, but the hash runs in the bounded pool (admin forms, createsuperuser)."""
        if raw_password is None:
            super().set_password(None)  # an unusable password: no hashing
            return
        self.password = passwords.hash_in_pool(raw_password)
        self._password = raw_password

    def check_password(self, raw_password: str) -> bool:
        """Like Django's, through the bounded pool; an outdated hash is upgraded in place
        without counting as a password change."""
        result = passwords.verify_in_pool(raw_password or "", self.password)
        if result.valid and result.upgraded_hash and self.pk is not None:
            if User.objects.store_rehash(self.pk, self.password, result.upgraded_hash):
                self.password = result.upgraded_hash
        return result.valid

    def __str__(self) -> str:
        return self.email


class ThrottleCounter(models.Model):
    """Failed-login counter in the database: the store when Redis is unset or down."""

    key = models.CharField(max_length=100, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)
    # Who the counter counts (accounts.throttling.label), set once it reaches its limit.
    label = models.CharField(max_length=400, blank=True, default="", db_default="")

    class Meta:
        verbose_name = "throttle counter"
        verbose_name_plural = "lockouts and throttle counters"

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


class LoginAttempt(models.Model):
    """One login attempt, for staff: who tried, from where, through which door, and what came of it.

    Written in batches off the request path (accounts.attempts); read-only in the admin.
    """

    SUCCESS, BAD_CREDENTIALS, THROTTLED, INACTIVE, OVERLOADED = (
        "success", "bad_credentials", "throttled", "inactive", "overloaded")
    OUTCOMES = [(SUCCESS, "success"), (BAD_CREDENTIALS, "bad credentials"), (THROTTLED, "throttled"),
                (INACTIVE, "inactive"), (OVERLOADED, "overloaded")]
    SOURCES = [("api", "API"), ("admin", "admin"), ("page", "web page")]

    at = models.DateTimeField(db_index=True)
    email = models.CharField(max_length=254, db_index=True)  # canonical form, as typed
    user = models.ForeignKey("User", null=True, blank=True, on_delete=models.SET_NULL, related_name="login_attempts")
    ip = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=OUTCOMES)
    source = models.CharField(max_length=8, choices=SOURCES)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["outcome", "at"], name="accounts_attempt_outcome_at")]

    def __str__(self) -> str:
        return f"{self.email} {self.outcome} at {self.at:%Y-%m-%d %H:%M:%S}"


class MailDelivery(models.Model):
    """One requested mail, keyed by the id of the Celery task that sends it.

    A task message can be delivered again (a worker killed before acknowledging it); this row
    makes sure the mail goes out at most once per request (accounts.mail.deliver).
    """

    PENDING, SENDING, SENT, FAILED, UNKNOWN = "pending", "sending", "sent", "failed", "unknown"
    STATES = [(s, s) for s in (PENDING, SENDING, SENT, FAILED, UNKNOWN)]

    id = models.CharField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=32)
    user_id = models.BigIntegerField()
    state = models.CharField(max_length=16, choices=STATES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "mail deliveries"

    def __str__(self) -> str:
        return f"{self.kind} to user {self.user_id}: {self.state}"
