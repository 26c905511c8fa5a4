"""URL map of the service."""

from django.contrib import admin
from django.urls import include, path

from accounts import views as accounts
from authsite import ops
from authsite.kit import metrics
from tokens import views as tokens

api = "api/v1/auth/"

urlpatterns = [
    path(f"{api}signup", accounts.signup, name="signup"),
    path(f"{api}login", tokens.login, name="login"),
    path(f"{api}refresh", tokens.refresh, name="refresh"),
    path(f"{api}logout", tokens.logout, name="logout"),
    path(f"{api}logout-all", tokens.logout_all, name="logout-all"),
    path(f"{api}me", accounts.me, name="me"),
    path(f"{api}password", accounts.change_password, name="password"),
    path(f"{api}password-reset", accounts.password_reset, name="password-reset"),
    path(f"{api}password-reset/confirm", accounts.password_reset_confirm, name="password-reset-confirm"),
    path(f"{api}verify-email", accounts.verify_email, name="verify-email"),
    path(f"{api}verify-email/resend", accounts.resend_verification, name="verify-email-resend"),
    path(f"{api}sessions", tokens.sessions, name="sessions"),
    path(f"{api}sessions/<str:session_id>", tokens.session_detail, name="session-detail"),
    path(".well-known/jwks.json", tokens.jwks, name="jwks"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/v1/schema", ops.schema, name="schema"),
    path("admin/", admin.site.urls),
    path("account/", include("pages.urls")),
    path("account/", include("accounts.pages")),
]

handler404 = "authsite.ops.not_found"
handler500 = "authsite.ops.server_error"
