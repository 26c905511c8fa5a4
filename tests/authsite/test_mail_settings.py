"""Mail settings come from the environment under Django's names; no EMAIL_HOST means the console."""

from __future__ import annotations

import json
from pathlib import Path

from tests.authsite.test_settings import run

PRINT_MAIL = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ('EMAIL_BACKEND', 'EMAIL_HOST', 'EMAIL_PORT', 'EMAIL_HOST_USER', "
    "'EMAIL_HOST_PASSWORD', 'EMAIL_USE_TLS', 'EMAIL_USE_SSL', 'DEFAULT_FROM_EMAIL', 'PUBLIC_BASE_URL', "
    "'PASSWORD_RESET_TTL', 'PASSWORD_RESET_TIMEOUT', 'REQUIRE_VERIFIED_EMAIL', 'THROTTLE_MAIL_EMAIL')}))"
)


NAMES = ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS", "EMAIL_USE_SSL",
         "DEFAULT_FROM_EMAIL", "PUBLIC_BASE_URL", "PASSWORD_RESET_TTL", "REQUIRE_VERIFIED_EMAIL",
         "THROTTLE_MAIL_EMAIL")


def mail_settings(tmp_path: Path, **env: str) -> dict[str, object]:
    # Empty means unset: whatever the calling shell exports does not leak in.
    result = run(["-c", PRINT_MAIL], tmp_path, **{**dict.fromkeys(NAMES, ""), **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_email_host_mail_goes_to_the_console(tmp_path: Path) -> None:
    s = mail_settings(tmp_path)
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert s["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"
    assert s["PASSWORD_RESET_TTL"] == s["PASSWORD_RESET_TIMEOUT"] == 3600
    assert s["REQUIRE_VERIFIED_EMAIL"] is False


def test_smtp_is_configured_with_djangos_names(tmp_path: Path) -> None:
    s = mail_settings(tmp_path, EMAIL_HOST="smtp.example.com", EMAIL_PORT="587", EMAIL_HOST_USER="mailer",
                      EMAIL_HOST_PASSWORD="pw", EMAIL_USE_TLS="1", DEFAULT_FROM_EMAIL="Auth <auth@example.com>",
                      PUBLIC_BASE_URL="https://auth.example.com/", PASSWORD_RESET_TTL="900",
                      REQUIRE_VERIFIED_EMAIL="1", THROTTLE_MAIL_EMAIL="5/60")
    assert s == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "smtp.example.com",
        "EMAIL_PORT": 587, "EMAIL_HOST_USER": "mailer", "EMAIL_HOST_PASSWORD": "pw", "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False, "DEFAULT_FROM_EMAIL": "Auth <auth@example.com>",
        "PUBLIC_BASE_URL": "https://auth.example.com", "PASSWORD_RESET_TTL": 900, "PASSWORD_RESET_TIMEOUT": 900,
        "REQUIRE_VERIFIED_EMAIL": True, "THROTTLE_MAIL_EMAIL": [5, 60],
    }


def test_bad_mail_settings_are_refused_at_start(tmp_path: Path) -> None:
    for env in ({"EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"}, {"EMAIL_PORT": "smtp"}, {"EMAIL_USE_TLS": "maybe"},
                {"PASSWORD_RESET_TTL": "10"}, {"THROTTLE_MAIL_IP": "lots"}):
        result = run(["-c", PRINT_MAIL], tmp_path, **env)
        assert result.returncode != 0, env
        assert "ImproperlyConfigured" in result.stderr, (env, result.stderr[-500:])
