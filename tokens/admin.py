"""Staff pages for tokens: sessions (revoke), signing keys (rotate), the sessions on a user's
page, and the dashboard on the admin index (tokens is the floor that sees both apps)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.admin import UserAdmin as AccountsUserAdmin
from accounts.models import User
from tokens import keys, services
from tokens.models import SigningKey, Session

admin.site.index_template = "admin/dashboard_index.html"
# The lists are wide (sessions, attempts, lockouts): the whole width goes to them.
admin.site.enable_nav_sidebar = False
RECENT_SESSIONS = 20


def session_state(session: Session) -> str:
    if session.revoked_at is not None:
        return f"revoked ({session.revoked_reason})" if session.revoked_reason else "revoked"
    return "expired" if session.expires_at <= timezone.now() else "active"


class SessionStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [("active", "active"), ("revoked", "revoked"), ("expired", "expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Session]) -> QuerySet[Session]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    """Logins (API and browser) and their refresh-token families. Revoking one takes effect at
    once everywhere."""

    list_display = ("short_id", "user", "created_at", "last_used_at", "ip", "user_agent_short", "state")
    list_filter = (SessionStateFilter, "revoked_reason")
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

    @admin.display(description="session", ordering="id")
    def short_id(self, session: Session) -> str:
        return str(session.pk)[:8]

    @admin.display(description="user agent")
    def user_agent_short(self, session: Session) -> str:
        return session.user_agent[:40]

    @admin.display(description="state")
    def state(self, session: Session) -> str:
        return session_state(session)

    @admin.action(description="Revoke selected sessions", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        count = 0
        for session in queryset.filter(revoked_at__isnull=True):
            services.revoke_session(None, str(session.pk), reason="admin")
            count += 1
        self.message_user(request, f"Revoked {count} session(s).", messages.SUCCESS)


def key_state(row: SigningKey) -> str:
    """active (signs), retired (verifies the tokens it signed), expired (none of those is valid)."""
    if row.is_active:
        return "active"
    if row.retired_at is not None and row.retired_at > timezone.now() - keys.retired_grace():
        return "retired"
    return "expired"


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    """Ed25519 signing keys: active (signs), retired (still verifies tokens it signed), expired
    (no token of it can be valid any more). Private halves are encrypted and never shown."""

    list_display = ("kid", "state", "created_at", "retired_at")
    readonly_fields = ("kid", "state", "created_at", "retired_at")
    exclude = ("public_key", "private_key_encrypted", "is_active")
    actions = ["rotate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # deleting a key would invalidate tokens that are still valid

    @admin.display(description="state")
    def state(self, row: SigningKey) -> str:
        return key_state(row)

    def has_rotate_permission(self, request: HttpRequest) -> bool:
        # Adding keys by hand is off (has_add_permission), so rotating has its own check.
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename('change', self.opts)}")

    @admin.action(description="Rotate now: retire the active key and create a new one", permissions=["rotate"])
    def rotate(self, request: HttpRequest, queryset: QuerySet[SigningKey]) -> None:
        row = keys.rotate_signing_key()
        self.message_user(request, f"New active key {row.kid}; earlier tokens stay valid.", messages.SUCCESS)


class UserAdmin(AccountsUserAdmin):
    """The accounts user page, with the user's sessions."""

    readonly_fields = (*AccountsUserAdmin.readonly_fields, "sessions")
    fieldsets = (*AccountsUserAdmin.fieldsets[:-1], ("Sessions", {"fields": ("sessions",)}),
                 AccountsUserAdmin.fieldsets[-1])

    @admin.display(description="sessions")
    def sessions(self, user: User) -> str:
        rows = Session.objects.filter(user=user)[:RECENT_SESSIONS]
        if not rows:
            return "None."
        body = format_html_join("", "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (reverse("admin:tokens_session_change", args=[s.pk]), str(s.pk)[:8],
             timezone.localtime(s.created_at).strftime("%Y-%m-%d %H:%M"),
             timezone.localtime(s.last_used_at).strftime("%Y-%m-%d %H:%M"), s.ip, s.user_agent[:50], session_state(s))
            for s in rows))
        link = reverse("admin:tokens_session_changelist") + f"?user__id__exact={user.pk}"
        return format_html('<table><thead><tr><th>session</th><th>created</th><th>last used</th><th>IP</th>'
                           '<th>user agent</th><th>state</th></tr></thead><tbody>{}</tbody></table>'
                           '<p><a href="{}">All sessions of this account</a> (revoke them there, or with the '
                           '"Revoke all sessions" action on the user list)</p>', body, link)


admin.site.unregister(User)
admin.site.register(User, UserAdmin)
