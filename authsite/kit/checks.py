"""System checks for the split middleware stack (see authsite.kit.middleware.BrowserOnlyMiddleware).

Django's admin and deploy checks look for their middleware in MIDDLEWARE; here they sit in
BROWSER_MIDDLEWARE instead, so those checks are silenced in settings and re-done here.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

REQUIRED_BROWSER = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


@register()
def browser_middleware(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    if "authsite.kit.middleware.BrowserOnlyMiddleware" not in settings.MIDDLEWARE:
        errors.append(Error("authsite.kit.middleware.BrowserOnlyMiddleware must be in MIDDLEWARE.", id="authsite.E001"))
    missing = [path for path in REQUIRED_BROWSER if path not in settings.BROWSER_MIDDLEWARE]
    for path in missing:
        errors.append(Error(f"{path} must be in BROWSER_MIDDLEWARE.", id="authsite.E002"))
    order = [settings.BROWSER_MIDDLEWARE.index(p) for p in REQUIRED_BROWSER[1:5] if p in settings.BROWSER_MIDDLEWARE]
    if order != sorted(order):
        errors.append(Error("Sessions, CSRF, authentication and messages middleware are out of order.",
                            id="authsite.E003"))
    return errors


# Django's deploy checks that only run when their middleware is in MIDDLEWARE.
_MIDDLEWARE_DEPENDENT_DEPLOY_CHECKS = [
    "django.core.checks.security.base.check_sts",
    "django.core.checks.security.base.check_sts_include_subdomains",
    "django.core.checks.security.base.check_sts_preload",
    "django.core.checks.security.base.check_content_type_nosniff",
    "django.core.checks.security.base.check_ssl_redirect",
    "django.core.checks.security.base.check_xframe_deny",
    "django.core.checks.security.base.check_referrer_policy",
    "django.core.checks.security.base.check_cross_origin_opener_policy",
    "django.core.checks.security.csrf.check_csrf_cookie_secure",
]


@register(Tags.security, deploy=True)
def browser_security(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Django's middleware-dependent deploy checks (HSTS, SSL redirect, nosniff, referrer and
    opener policies, X-Frame-Options, CSRF cookie), run as if BROWSER_MIDDLEWARE were MIDDLEWARE.

    Django skips them because SecurityMiddleware & co. sit in BROWSER_MIDDLEWARE."""
    from django.test.utils import override_settings
    from django.utils.module_loading import import_string

    messages: list[CheckMessage] = []
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, *settings.BROWSER_MIDDLEWARE]):
        for path in _MIDDLEWARE_DEPENDENT_DEPLOY_CHECKS:
            messages.extend(import_string(path)(app_configs))
    silenced = set(settings.SILENCED_SYSTEM_CHECKS)
    return [message for message in messages if message.id not in silenced]
