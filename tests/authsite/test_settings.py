"""Production settings: DEBUG off by default, `check --deploy` clean, secret key required, the
HTTPS redirect a setting, secure headers on API and admin responses, only 5xx logged by
django.request."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path

from authsite.kit.errors import api_endpoint

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.SECURE_SSL_REDIRECT, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
)


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a Python command in a fresh process with exactly the given authsite environment."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "CELERY_", "THROTTLE_", "TRUSTED_"))}
    base.update({"DJANGO_SETTINGS_MODULE": "authsite.settings", "AUTHSITE_VAR_DIR": str(tmp_path)}, **env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)


def production_env() -> dict[str, str]:
    return {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused"}


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_covers_the_browser_middleware_settings() -> None:
    # SecurityMiddleware lives in BROWSER_MIDDLEWARE, so Django skips these checks; ours runs them.
    from authsite.kit.checks import browser_security

    assert browser_security() == []
    with override_settings(SECURE_HSTS_SECONDS=0, SECURE_SSL_REDIRECT=False, SECURE_CONTENT_TYPE_NOSNIFF=False,
                           X_FRAME_OPTIONS="SAMEORIGIN", CSRF_COOKIE_SECURE=False):
        ids = {message.id for message in browser_security()}
    assert {"security.W004", "security.W008", "security.W006", "security.W019", "security.W016"} <= ids


def test_debug_is_off_by_default(tmp_path: Path) -> None:
    result = run(["-c", PRINT_SETTINGS], tmp_path, **production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["False", "True"]  # DEBUG off, HTTPS redirect on
    assert run(["-c", PRINT_SETTINGS], tmp_path, DJANGO_DEBUG="1").stdout.split()[0] == "True"
    assert run(["-c", PRINT_SETTINGS], tmp_path, DJANGO_DEBUG="true").stdout.split()[0] == "False"


@pytest.mark.parametrize(("env", "redirect"), [
    ({"DJANGO_SECURE_SSL_REDIRECT": "0"}, "False"),  # production served over plain http (compose)
    ({"DJANGO_SECURE_SSL_REDIRECT": "1"}, "True"),
    ({"DJANGO_SECURE_SSL_REDIRECT": ""}, "True"),  # empty is unset: the production default
], ids=["off", "on", "empty"])
def test_the_https_redirect_is_a_setting(tmp_path: Path, env: dict[str, str], redirect: str) -> None:
    result = run(["-c", PRINT_SETTINGS], tmp_path, **production_env(), **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["False", redirect]


def test_the_https_redirect_can_be_asked_for_in_embedded_mode(tmp_path: Path) -> None:
    assert run(["-c", PRINT_SETTINGS], tmp_path).stdout.split()[1] == "False"
    assert run(["-c", PRINT_SETTINGS], tmp_path, DJANGO_SECURE_SSL_REDIRECT="1").stdout.split()[1] == "True"


def test_a_malformed_redirect_flag_stops_the_process_with_its_name(tmp_path: Path) -> None:
    result = run(["-c", PRINT_SETTINGS], tmp_path, DJANGO_SECURE_SSL_REDIRECT="yes", **production_env())
    assert result.returncode != 0
    assert "DJANGO_SECURE_SSL_REDIRECT must be 0 or 1, got 'yes'" in result.stderr


def test_proxy_ssl_header_is_trusted_only_behind_declared_proxies(tmp_path: Path) -> None:
    assert run(["-c", PRINT_SETTINGS], tmp_path, **production_env()).stdout.split()[2] == "None"
    out = run(["-c", PRINT_SETTINGS], tmp_path, TRUSTED_PROXY_COUNT="1", **production_env()).stdout
    assert "HTTP_X_FORWARDED_PROTO" in out


@pytest.mark.parametrize("variable", ["DATABASE_URL", "REDIS_URL"])
def test_refuses_to_start_in_production_without_a_secret_key(tmp_path: Path, variable: str) -> None:
    value = "postgres://postgres@127.0.0.1:5432/unused" if variable == "DATABASE_URL" else "redis://127.0.0.1:6379/3"
    result = run(["manage.py", "check"], tmp_path, **{variable: value})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("env", [{}, {"DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused"}],
                         ids=["embedded", "debug"])
def test_embedded_and_debug_modes_generate_a_secret_once(tmp_path: Path, env: dict[str, str]) -> None:
    assert run(["-c", PRINT_SETTINGS], tmp_path, **env).returncode == 0
    key_file = tmp_path / "secret_key"
    first = key_file.read_text()
    assert len(first) >= 50 and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert run(["-c", PRINT_SETTINGS], tmp_path, **env).returncode == 0
    assert key_file.read_text() == first


API_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


def test_api_responses_carry_security_headers(client: Client) -> None:
    response = client.get("/healthz", secure=True)
    assert response.status_code == 200
    for name, value in API_HEADERS.items():
        assert response[name] == value
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    # Errors too, and no HSTS over plain HTTP (browsers ignore it there; RFC 6797).
    error = client.post("/api/v1/auth/login", b"{", content_type="application/json")
    assert error.status_code == 400 and error["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in error


@pytest.mark.django_db
def test_admin_responses_carry_security_headers_and_require_https(client: Client) -> None:
    response = client.get("/admin/login/", secure=True)
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    # includeSubDomains and preload bind the parent domain: only on request (settings tests).
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    cookie = response.cookies["csrftoken"]
    assert cookie["secure"] and cookie["httponly"]
    plain = client.get("/admin/login/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")


@pytest.mark.django_db
def test_admin_answers_over_plain_http_when_the_redirect_is_off(client: Client) -> None:
    with override_settings(SECURE_SSL_REDIRECT=False):
        response = client.get("/admin/login/")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response  # HSTS only over HTTPS
    assert response["X-Frame-Options"] == "DENY"


@api_endpoint("GET")
async def _broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [path("api/broken", _broken)]


@pytest.mark.django_db
def test_expected_4xx_answers_are_not_logged_but_5xx_are(client: Client, caplog: pytest.LogCaptureFixture,
                                                          settings) -> None:  # type: ignore[no-untyped-def]
    # The logging configuration of the settings, unchanged: caplog only listens at the root.
    assert client.post("/api/v1/auth/login", {"email": "nobody@example.com", "password": "x" * 12},
                       content_type="application/json").status_code == 401
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.post("/api/v1/auth/login", b"{", content_type="application/json").status_code == 400
    assert client.get("/api/v1/nowhere").status_code == 404
    assert client.get("/api/v1/auth/login").status_code == 405
    assert [r for r in caplog.records if r.name == "django.request"] == []

    settings.ROOT_URLCONF = __name__
    assert client.get("/api/broken").status_code == 500
    logged = [r for r in caplog.records if r.name == "django.request"]
    assert [(r.levelname, r.getMessage()) for r in logged] == [("ERROR", "Internal Server Error: /api/broken")]


def test_hsts_subdomains_and_preload_are_opt_in_settings(tmp_path: Path) -> None:
    show = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)")
    default = run(["-c", show], tmp_path, **production_env())
    assert default.stdout.split() == ["31536000", "False", "False"], default.stderr
    opted = run(["-c", show], tmp_path, **production_env(), SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
                SECURE_HSTS_PRELOAD="1")
    assert opted.stdout.split() == ["31536000", "True", "True"], opted.stderr


@pytest.mark.django_db
@override_settings(SECURE_HSTS_INCLUDE_SUBDOMAINS=True, SECURE_HSTS_PRELOAD=True)
def test_opted_in_hsts_reaches_admin_and_api_responses(client: Client) -> None:
    expected = "max-age=31536000; includeSubDomains; preload"
    assert client.get("/admin/login/", secure=True)["Strict-Transport-Security"] == expected
    assert client.get("/healthz", secure=True)["Strict-Transport-Security"] == expected
