"""System checks for the split middleware stack (see authsite.middleware.BrowserOnlyMiddleware).

Django's admin and deploy checks look for their middleware in MIDDLEWARE; here they sit in
BROWSER_MIDDLEWARE instead, so those checks are silenced in settings and re-done here.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

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
    if "authsite.middleware.BrowserOnlyMiddleware" not in settings.MIDDLEWARE:
        errors.append(Error("authsite.middleware.BrowserOnlyMiddleware must be in MIDDLEWARE.", id="authsite.E001"))
    missing = [path for path in REQUIRED_BROWSER if path not in settings.BROWSER_MIDDLEWARE]
    for path in missing:
        errors.append(Error(f"{path} must be in BROWSER_MIDDLEWARE.", id="authsite.E002"))
    order = [settings.BROWSER_MIDDLEWARE.index(p) for p in REQUIRED_BROWSER[1:5] if p in settings.BROWSER_MIDDLEWARE]
    if order != sorted(order):
        errors.append(Error("Sessions, CSRF, authentication and messages middleware are out of order.",
                            id="authsite.E003"))
    return errors
