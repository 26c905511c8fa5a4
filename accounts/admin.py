"""Staff pages for accounts: users (hash status, actions), the login-attempt audit log, lockouts.

The sessions of a user are shown by tokens.admin, which extends the user page (accounts does
not know about tokens).
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, ReadOnlyPasswordHashWidget, UserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext

from accounts import hashformats, inventory, lockouts, passwords, reset, staff, wrapping
from accounts import job_admin  # noqa: F401  (registers the bulk jobs page)
from accounts.backends import LOCKED_FOR
from accounts.emails import clean_email
from accounts.models import LoginAttempt, ThrottleCounter, User

RECENT_ATTEMPTS = 20


class LoginForm(AdminAuthenticationForm):
    """The admin login form; a throttled attempt is told that sign-in is locked, and for how
    long, in words that do not depend on whether the account exists."""

    def get_invalid_login_error(self) -> forms.ValidationError:
        seconds = getattr(self.request, LOCKED_FOR, None)
        if seconds is None:
            return super().get_invalid_login_error()
        minutes = max(1, math.ceil(seconds / 60))
        return forms.ValidationError(
            "Too many failed sign-in attempts: sign-in is temporarily locked. Try again in %(minutes)d minute%(s)s.",
            code="locked", params={"minutes": minutes, "s": "" if minutes == 1 else "s"})


admin.site.login_form = LoginForm


def _signup_email(form: forms.ModelForm, exclude_pk: int | None = None) -> str:
    """The email validated like signup (canonical form, syntax, length), and not taken."""
    try:
        email = clean_email(form.cleaned_data["email"])
    except ValidationError as exc:
        raise forms.ValidationError(exc.messages) from exc
    if User.objects.filter(email=email).exclude(pk=exclude_pk).exists():
        raise forms.ValidationError("An account with this email already exists.")
    return email


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        return _signup_email(self)

    def clean_password1(self) -> str:
        password = self.cleaned_data.get("password1") or ""
        if len(password) > settings.PASSWORD_MAX_LENGTH:  # refused before any hashing, like signup
            raise forms.ValidationError(f"Must be at most {settings.PASSWORD_MAX_LENGTH} characters.")
        return password


class HashParametersWidget(ReadOnlyPasswordHashWidget):
    """Django's password summary without the masked starts of the salt and the hash: staff see
    the algorithm and its parameters, nothing of the secret."""

    def get_context(self, name: str, value: Any, attrs: Any) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        hidden = {gettext("salt"), gettext("hash")}
        context["summary"] = [item for item in context["summary"] if item.get("label") not in hidden]
        return context


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"].widget = HashParametersWidget()

    def clean_email(self) -> str:
        return _signup_email(self, self.instance.pk)


class HashStatusFilter(admin.SimpleListFilter):
    """Users by what a login would do with their stored hash (accounts.passwords.hash_status)."""

    title = "hash status"
    parameter_name = "hash_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(status, status.replace("_", " ")) for status in passwords.HASH_STATUSES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() not in passwords.HASH_STATUSES:
            return queryset
        return queryset.filter(pk__in=inventory.user_ids_with_hash_status(self.value()))


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Saving a user inactive, or with a new password, ends all of their sessions at once
    (accounts.signals -> tokens.receivers)."""

    form = UserEditForm
    add_form = UserCreationForm
    ordering = ("email",)
    list_display = ("email", "is_active", "email_verified", "is_staff", "last_login", "date_joined", "hash_status")
    list_filter = ("is_active", "email_verified", "is_staff", HashStatusFilter)
    search_fields = ("email",)  # icontains: case-insensitive
    readonly_fields = ("date_joined", "last_login", "hash_status", "recent_login_attempts")
    fieldsets = (
        (None, {"fields": ("email", "password", "hash_status")}),
        ("Status", {"fields": ("is_active", "email_verified", "is_staff", "is_superuser")}),
        ("Permissions", {"classes": ("collapse",), "fields": ("groups", "user_permissions")}),
        ("Dates", {"fields": ("date_joined", "last_login")}),
        ("Recent login attempts", {"fields": ("recent_login_attempts",)}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    actions = ["deactivate", "reactivate", "revoke_sessions", "force_password_reset", "unlock", "wrap_weak_hashes"]

    @admin.display(description="hash status")
    def hash_status(self, user: User) -> str:
        # The classification that decides upgrades: its status, and for any hash a login would
        # replace its kind and parameter set (nothing of the salt or digest).
        info = passwords.classify(user.password)
        status = info.status.replace("_", " ")
        return status if info.status in (hashformats.CURRENT, hashformats.UNUSABLE) else f"{status}: {info.label}"

    @admin.display(description="recent login attempts")
    def recent_login_attempts(self, user: User) -> str:
        rows = LoginAttempt.objects.filter(user=user)[:RECENT_ATTEMPTS]
        if not rows:
            return "None recorded."
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                                ((timezone.localtime(r.at).strftime("%Y-%m-%d %H:%M:%S"), r.get_outcome_display(),
                                  r.ip, r.get_source_display()) for r in rows))
        link = reverse("admin:accounts_loginattempt_changelist") + f"?user__id__exact={user.pk}"
        return format_html('<table><thead><tr><th>time (UTC)</th><th>outcome</th><th>IP</th><th>through</th>'
                           '</tr></thead><tbody>{}</tbody></table><p><a href="{}">All attempts of this account</a></p>',
                           body, link)

    @admin.action(description="Deactivate selected users and end their sessions", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self.message_user(request, f"Deactivated {staff.deactivate(queryset)} user(s).", messages.SUCCESS)

    @admin.action(description="Reactivate selected users", permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self.message_user(request, f"Reactivated {staff.reactivate(queryset)} user(s).", messages.SUCCESS)

    @admin.action(description="Revoke all sessions of selected users", permissions=["change"])
    def revoke_sessions(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = staff.revoke_sessions(queryset.values_list("pk", flat=True))
        self.message_user(request, f"Ended every session of {count} user(s).", messages.SUCCESS)

    @admin.action(description="Unlock: clear failed-login counters of selected users", permissions=["change"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = staff.unlock(queryset)
        self.message_user(request, f"Cleared {count} failed-login counter(s).", messages.SUCCESS)

    @admin.action(description="Enqueue a wrap job for the weak hashes of selected users", permissions=["change"])
    def wrap_weak_hashes(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        job = wrapping.start_for(queryset.values_list("pk", flat=True), str(request.user))
        link = reverse("admin:accounts_job_change", args=[job.pk])
        self.message_user(request, format_html('Wrap job <a href="{}">{}</a>: {} weak hash(es) to wrap on the '
                                               'bulk queue.', link, job.pk, job.total), messages.SUCCESS)

    @admin.action(description="Force a password reset (unusable password, sessions ended, reset link mailed)",
                  permissions=["change"])
    def force_password_reset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = sum(reset.force_reset(pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} user(s) must set a new password; their sessions ended and a "
                                   "reset link is on its way.", messages.SUCCESS)


@admin.register(LoginAttempt)
class LoginAttemptAdmin(admin.ModelAdmin):
    """The audit log of login attempts: read-only, kept LOGIN_ATTEMPT_RETENTION_DAYS."""

    list_display = ("at", "email", "user", "ip", "outcome", "source")
    list_filter = ("outcome", "source")
    date_hierarchy = "at"
    search_fields = ("email", "ip")
    list_select_related = ("user",)
    show_full_result_count = False  # a large log: no COUNT(*) over every row per page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the retention purge is the only way out


@admin.register(ThrottleCounter)
class LockoutAdmin(admin.ModelAdmin):
    """Who is locked out now (Redis and database counters, with whom they count), and the
    database counters themselves. Unlock clears a counter everywhere."""

    list_display = ("key", "who", "count", "expires_at", "active")
    ordering = ("-expires_at",)
    actions = ["unlock"]
    change_list_template = "admin/accounts/lockouts.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        return [path("unlock/", self.admin_site.admin_view(self.unlock_view), name="accounts_lockouts_unlock"),
                *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"lockouts": lockouts.current(), "title": "Lockouts", **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def unlock_view(self, request: HttpRequest) -> HttpResponse:
        """POST key=...: clear that counter (a row of the "locked out now" table)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_delete_permission(request):
            raise PermissionDenied
        count = lockouts.unlock(request.POST.getlist("key"))
        self.message_user(request, f"Unlocked: cleared {count} counter(s).", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:accounts_throttlecounter_changelist"))

    @admin.display(description="counts")
    def who(self, row: ThrottleCounter) -> str:
        return lockouts.describe(row.label)

    @admin.display(boolean=True)
    def active(self, row: ThrottleCounter) -> bool:
        return row.expires_at > timezone.now()

    @admin.action(description="Unlock (delete the selected counters)", permissions=["delete"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[ThrottleCounter]) -> None:
        deleted = lockouts.unlock(list(queryset.values_list("key", flat=True)))
        self.message_user(request, f"Removed {deleted} counter(s).", messages.SUCCESS)

