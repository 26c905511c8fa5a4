"""Staff pages for tokens: sessions (revoke), signing keys (rotate)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tokens import keys, services
from tokens.models import SigningKey, Session


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    """Logins and their refresh-token families. Revoking one takes effect at once everywhere."""

    list_display = ("id", "user", "created_at", "last_used_at", "ip", "revoked_at", "revoked_reason")
    list_filter = ("revoked_reason",)
    search_fields = ("user__email", "ip", "id")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in Session._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Ended sessions stay as history (purged later); ending one is "revoke". A deletion from
        # anywhere else still revokes first (tokens.receivers).
        return False

    @admin.action(description="Revoke selected sessions")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        count = 0
        for session in queryset.filter(revoked_at__isnull=True):
            services.revoke_session(None, str(session.pk), reason="admin")
            count += 1
        self.message_user(request, f"Revoked {count} session(s).", messages.SUCCESS)


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    """Ed25519 signing keys. Private halves are encrypted and never shown."""

    list_display = ("kid", "is_active", "created_at", "retired_at", "published")
    readonly_fields = ("kid", "is_active", "created_at", "retired_at")
    exclude = ("public_key", "private_key_encrypted")
    actions = ["rotate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # deleting a key would invalidate tokens that are still valid

    @admin.display(boolean=True)
    def published(self, row: SigningKey) -> bool:
        return row.pk in {k.pk for k in keys.published_keys()}

    @admin.action(description="Rotate: retire the active key and create a new one")
    def rotate(self, request: HttpRequest, queryset: QuerySet[SigningKey]) -> None:
        row = keys.rotate_signing_key()
        self.message_user(request, f"New active key {row.kid}; earlier tokens stay valid.", messages.SUCCESS)
