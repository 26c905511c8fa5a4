"""Structured logs: one JSON object per line with the request id; no secret ever written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client, override_settings

from accounts import passwords
from authsite.kit.logging import JsonFormatter, RefusalSampler, RequestIdFilter, scrub
from authsite.kit.middleware import request_id
from tests.support.legacy import FORMATS

PASSWORD = "correct horse battery staple"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged (root, DEBUG) while the test runs, as the production handler writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_production_settings_log_json(settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.DEBUG is False
    handler = settings.LOGGING["handlers"]["console"]
    assert settings.LOGGING["formatters"][handler["formatter"]]["()"] == "authsite.kit.logging.JsonFormatter"
    assert handler["filters"] == ["request_id"]


def test_one_json_object_per_line_with_request_id(json_log: io.StringIO) -> None:
    token = request_id.set("req-123")
    try:
        logging.getLogger("authsite.test").warning("two\nlines", extra={"user_id": 7})
    finally:
        request_id.reset(token)
    logging.getLogger("authsite.test").info("outside a request")
    first, second = lines(json_log)
    assert first["message"] == "two\nlines" and first["level"] == "WARNING" and first["logger"] == "authsite.test"
    assert first["request_id"] == "req-123" and first["user_id"] == 7
    assert second["request_id"] == "-"
    assert len(json_log.getvalue().splitlines()) == 2


def test_secrets_are_redacted_wherever_they_appear(json_log: io.StringIO) -> None:
    jwt = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
    argon = make_password(PASSWORD)
    md5 = make_password(PASSWORD, hasher="md5")
    bcrypt_bare = "$2b$12$" + "a" * 53
    refresh = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6"[:43]
    log = logging.getLogger("authsite.test")
    log.info("token %s hash %s and %s, %s", jwt, argon, md5, bcrypt_bare)
    log.info('body {"email": "a@b.c", "password": "%s", "refresh_token": "%s"}', PASSWORD, refresh)
    log.info("auth header Bearer %s", refresh, extra={"password": PASSWORD, "new_password": PASSWORD,
                                                       "access_token": jwt, "password_hash": argon})
    try:
        raise ValueError(f"bad {argon}")
    except ValueError:
        log.exception("failed for %s", jwt)
    out = json_log.getvalue()
    for secret in (jwt, argon, argon.split("$")[-1], md5, bcrypt_bare, PASSWORD, refresh):
        assert secret not in out, secret
    assert out.count("[redacted]") >= 10
    assert "a@b.c" in out  # ordinary data stays


def test_scrub_leaves_ordinary_text_alone() -> None:
    text = "login failed for user 42 from 127.0.0.1 (request 0123456789abcdef01234567)"
    assert scrub(text) == text


@pytest.mark.django_db
def test_a_whole_session_writes_no_secret_and_tags_request_ids(json_log: io.StringIO, settings: Any) -> None:
    settings.REFRESH_RETRY_GRACE = 0  # an immediate second use is reuse, not a retry
    client = Client()
    email = "logged@example.com"
    r = client.post("/api/v1/auth/signup", {"email": email, "password": PASSWORD}, content_type="application/json")
    assert r.status_code == 201
    pair = client.post("/api/v1/auth/login", {"email": email, "password": PASSWORD},
                       content_type="application/json").json()
    auth = {"Authorization": f"Bearer {pair['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 200
    refreshed = client.post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]},
                            content_type="application/json")
    assert refreshed.status_code == 200
    # Reuse of a rotated refresh token, a wrong password, a forged token: all logged paths.
    assert client.post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]},
                       content_type="application/json").status_code == 401
    assert client.post("/api/v1/auth/login", {"email": email, "password": PASSWORD + "!"},
                       content_type="application/json").status_code == 401
    r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token'][:-4]}AAAA",
                                                 "X-Request-ID": "trace-me-42"})
    assert r.status_code == 401
    from accounts.models import User

    stored_hash = User.objects.get(email=email).password
    out = json_log.getvalue()
    for secret in (PASSWORD, stored_hash, stored_hash.split("$")[-1], pair["access_token"], pair["refresh_token"],
                   refreshed.json()["access_token"], refreshed.json()["refresh_token"]):
        assert secret not in out
    # Expected 4xx answers are not logged by django.request (only 5xx are).
    assert not any(rec["logger"] == "django.request" for rec in lines(json_log)), out


def test_served_process_writes_only_json_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`python -m authsite.serve` (master, worker, uvicorn's access log): every line is JSON."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    from tests.support.servers import free_port, wait_http

    root = Path(__file__).resolve().parents[3]
    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_DEBUG"}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    env["CELERY_BROKER_URL"] = "redis://127.0.0.1:1/0"  # nothing listens: /readyz logs a failed check
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "authsite.serve", "--port", str(port), "--workers", "2"],
                                cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
            r = httpx.get(f"http://127.0.0.1:{port}/api/v1/nowhere")
            assert r.status_code == 404
            r = httpx.get(f"http://127.0.0.1:{port}/readyz", headers={"X-Request-ID": "served-1"}, timeout=10)
            assert r.status_code == 503
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(rec["logger"] == "uvicorn.access" for rec in records), text
    assert any(rec.get("request_id") == "served-1" for rec in records), text
    from_django = [rec for rec in records if rec["logger"] == "django.request"]
    assert [rec["level"] for rec in from_django] == ["ERROR"], text  # the 503, not the 404


def _hash_forms() -> Iterator[Any]:
    for name, (make, _status) in FORMATS.items():
        raw = make(PASSWORD)
        stored = passwords.importable(raw)
        yield pytest.param(raw, id=f"{name}-as-imported")
        if stored != raw:
            yield pytest.param(stored, id=f"{name}-as-stored")
        wrapped = passwords.wrap(stored)
        if wrapped is not None:
            yield pytest.param(wrapped, id=f"{name}-wrapped")


@pytest.mark.parametrize("encoded", list(_hash_forms()))
def test_scrub_redacts_every_hash_form_the_service_accepts_or_stores(encoded: str) -> None:
    digest = encoded.rsplit("$", 1)[-1]
    for text in (f"hash {encoded} here", f'{{"value": "{encoded}"}}', encoded):
        scrubbed = scrub(text)
        assert digest not in scrubbed and "[redacted]" in scrubbed, scrubbed


def test_the_beyond_limits_warning_keeps_kind_and_parameters(json_log: io.StringIO) -> None:
    stored = passwords.importable(FORMATS["django_pbkdf2_sha1"][0](PASSWORD))
    with override_settings(PASSWORD_LIMIT_PBKDF2_ITERATIONS=999):
        assert not passwords.verify(PASSWORD, stored).valid
    entry = next(json.loads(line) for line in json_log.getvalue().splitlines() if "beyond the cost limits" in line)
    assert entry["kind"] == "pbkdf2_sha1" and entry["params"] == "iterations=1000"
    assert stored.rsplit("$", 1)[1] not in json_log.getvalue()


def _access(status: int) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                             ("127.0.0.1:5000", "POST", "/api/v1/auth/login", "1.1", status), None)


def test_the_access_log_keeps_one_refusal_per_second_and_counts_the_rest(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    clock = [100.0]
    monkeypatch.setattr("authsite.kit.logging.time.monotonic", lambda: clock[0])
    sampler = RefusalSampler()
    assert sampler.filter(_access(503))
    assert [sampler.filter(_access(503)) for _ in range(500)] == [False] * 500
    assert all(sampler.filter(_access(status)) for status in (200, 401, 429, 500))  # every other answer
    clock[0] += 1.0
    passed = _access(503)
    assert sampler.filter(passed)
    assert passed.suppressed == 500  # type: ignore[attr-defined]
