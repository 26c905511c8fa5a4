"""End-user pages behind the mailed links: forgot password, set a new password, email verified.

Like Django's PasswordResetConfirmView, a page opened with `?token=` moves the token into the
session and redirects to the same page without it: the token leaves the address bar, the
browser history and the `Referer` of anything the page loads. The forms check CSRF themselves.
"""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from accounts import linktokens, reset, verification
from accounts.exceptions import InvalidLinkToken, MailUnavailable, Overloaded, TooManyAttempts
from authsite.kit.exceptions import ValidationFailed
from authsite.kit.http import client_ip

RESET_TOKEN = "accounts.reset_token"
VERIFY_TOKEN = "accounts.verify_token"


class ForgotPasswordForm(forms.Form):
    email = forms.CharField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class NewPasswordForm(forms.Form):
    new_password1 = forms.CharField(label="New password", strip=False, max_length=1024,
                                    widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    new_password2 = forms.CharField(label="New password again", strip=False, max_length=1024,
                                    widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("new_password1") and data.get("new_password1") != data.get("new_password2"):
            self.add_error("new_password2", "The two passwords differ.")
        return data


def _stash_token(request: HttpRequest, key: str) -> HttpResponse | None:
    token = request.GET.get("token")
    if token is None:
        return None
    request.session[key] = token[:linktokens.MAX_TOKEN_LENGTH + 1]
    return redirect(request.path)


def _busy(form: forms.Form, exc: Exception) -> int:
    if isinstance(exc, TooManyAttempts):
        minutes = max(1, round(exc.retry_after / 60))
        form.add_error(None, f"Too many requests. Try again in {minutes} minute{'s' if minutes > 1 else ''}.")
        return 429
    form.add_error(None, "The service is busy. Try again shortly.")
    return 503


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def forgot_password(request: HttpRequest) -> HttpResponse:
    form = ForgotPasswordForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            reset.request_reset(form.cleaned_data["email"], client_ip(request))
        except ValidationFailed as exc:
            form.add_error("email", exc.fields.get("email", [exc.message]))
            status = 400
        except (TooManyAttempts, MailUnavailable) as exc:
            status = _busy(form, exc)
        else:
            return render(request, "accounts/pages/password_reset_sent.html", {"email": form.cleaned_data["email"]})
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/pages/password_reset.html", {"form": form}, status=status)


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def set_new_password(request: HttpRequest) -> HttpResponse:
    stashed = _stash_token(request, RESET_TOKEN)
    if stashed is not None:
        return stashed
    token = request.session.get(RESET_TOKEN, "")
    if not reset.link_is_valid(token):
        request.session.pop(RESET_TOKEN, None)
        return render(request, "accounts/pages/link_invalid.html", status=400)
    form = NewPasswordForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            reset.confirm_reset(token, form.cleaned_data["new_password1"])
        except InvalidLinkToken:
            request.session.pop(RESET_TOKEN, None)
            return render(request, "accounts/pages/link_invalid.html", status=400)
        except ValidationFailed as exc:
            form.add_error("new_password1", exc.fields.get("new_password", [exc.message]))
            status = 400
        except Overloaded as exc:
            status = _busy(form, exc)
        else:
            request.session.pop(RESET_TOKEN, None)
            return render(request, "accounts/pages/password_reset_done.html")
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/pages/set_new_password.html", {"form": form}, status=status)


@never_cache
@require_http_methods(["GET"])
def email_verified(request: HttpRequest) -> HttpResponse:
    stashed = _stash_token(request, VERIFY_TOKEN)
    if stashed is not None:
        return stashed
    token = request.session.pop(VERIFY_TOKEN, "")
    try:
        verification.verify_email(token)
    except InvalidLinkToken:
        return render(request, "accounts/pages/link_invalid.html", status=400)
    return render(request, "accounts/pages/email_verified.html")


urlpatterns = [
    path("password-reset", forgot_password, name="forgot-password"),
    path("password-reset/confirm", set_new_password, name="set-new-password"),
    path("verify-email", email_verified, name="email-verified"),
]
