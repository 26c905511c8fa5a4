"""Staff pages for accounts: users (email identity, activation, password reset) and lockouts."""

from __future__ import annotations

import math

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts import reset
from accounts.backends import LOCKED_FOR
from accounts.emails import canonical_email
from accounts.models import ThrottleCounter, User
from accounts.passwords import hash_summary


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


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        email = canonical_email(self.cleaned_data["email"])
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        email = canonical_email(self.cleaned_data["email"])
        if User.objects.filter(email=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Saving a user inactive, or with a new password, ends all of their sessions at once
    (accounts.signals -> tokens.receivers)."""

    form = UserEditForm
    add_form = UserCreationForm
    ordering = ("email",)
    list_display = ("email", "is_active", "email_verified", "is_staff", "date_joined", "last_login", "hash_kind")
    list_filter = ("is_active", "email_verified", "is_staff", "is_superuser")
    search_fields = ("email",)
    readonly_fields = ("date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Status", {"fields": ("is_active", "email_verified", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("date_joined", "last_login")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    actions = ["deactivate", "force_password_reset"]

    @admin.display(description="hash")
    def hash_kind(self, user: User) -> str:
        return hash_summary(user.password)

    @admin.action(description="Deactivate selected users and end their sessions")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = 0
        for user in queryset.filter(is_active=True):
            user.is_active = False
            user.save(update_fields=["is_active"])  # signals end the sessions
            count += 1
        self.message_user(request, f"Deactivated {count} user(s).", messages.SUCCESS)

    @admin.action(description="Force a password reset (ends their sessions; they use \"forgot password\")")
    def force_password_reset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = sum(reset.force_reset(pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"Forced a password reset for {count} user(s).", messages.SUCCESS)


@admin.register(ThrottleCounter)
class LockoutAdmin(admin.ModelAdmin):
    """Failed-login counters kept in the database (when Redis is unset or was down).

    Keys are digests: look an account up with `manage.py unlock_account EMAIL`.
    """

    list_display = ("key", "count", "expires_at", "active")
    ordering = ("-expires_at",)
    actions = ["unlock"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(boolean=True)
    def active(self, row: ThrottleCounter) -> bool:
        return row.expires_at > timezone.now()

    @admin.action(description="Unlock (delete the selected counters)")
    def unlock(self, request: HttpRequest, queryset: QuerySet[ThrottleCounter]) -> None:
        deleted, _ = queryset.delete()
        self.message_user(request, f"Removed {deleted} counter(s).", messages.SUCCESS)


from accounts import job_admin  # noqa: E402,F401  (registers the bulk jobs page)
