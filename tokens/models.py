"""Signing keys, sessions (refresh-token families) and refresh tokens."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class SigningKey(models.Model):
    """An Ed25519 key pair. The private half is encrypted with a key derived from SECRET_KEY."""

    kid = models.CharField(max_length=64, unique=True)
    public_key = models.BinaryField()
    private_key_encrypted = models.BinaryField(editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="tokens_one_active_key"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.kid


class Session(models.Model):
    """One login: the family of every refresh and access token descended from it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth_sessions")
    # Set by the caller to the same instant as last_used_at (auto_now_add would read the clock again).
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    revoked_reason = models.CharField(max_length=32, blank=True)
    # Refresh throttling: refreshes counted in the window that started at refresh_window_start.
    refresh_window_start = models.DateTimeField(null=True, blank=True)
    refresh_count = models.PositiveIntegerField(default=0)
    # Random prefix of every refresh token of this session: a token whose row is gone (only the
    # rows reuse detection needs are kept) is still recognised as one of this family.
    family = models.CharField(max_length=32, unique=True, null=True, blank=True, editable=False)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"], name="tokens_session_user_live")]
        ordering = ["-created_at"]

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def __str__(self) -> str:
        return f"session {self.id}"


class RefreshToken(models.Model):
    """One refresh token of a session; only its SHA-256 digest is stored. Usable once."""

    token_hash = models.CharField(max_length=64, unique=True)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="refresh_tokens")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh token {self.pk} of {self.session_id}"


class Revocation(models.Model):
    """The revocation journal: one row per revoked (or deleted) session.

    Its id is the revocation sequence number that Redis's copy is checked against; it outlives
    the session row, so a deleted session stays revoked; `published` is False until Redis has
    been told, so a revocation that a process could not publish is published by another one.
    """

    id = models.BigAutoField(primary_key=True)
    session_id = models.UUIDField(db_index=True)
    revoked_at = models.DateTimeField(db_index=True)
    published = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["revoked_at"], condition=Q(published=False),
                                name="tokens_revocation_unpublished")]

    def __str__(self) -> str:
        return f"revocation {self.pk} of {self.session_id}"
