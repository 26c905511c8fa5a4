"""Reset and verification end to end: real uvicorn, a real Celery worker on the Redis broker,
and mail over a real SMTP socket (an aiosmtpd sink started here). Also a worker killed after
its mail reached the server: the redelivered task must not send it again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from accounts.models import MailDelivery, User
from authsite.celery import app as celery_app
from tests.e2e.test_celery import celery_worker
from tests.support.live import ME, PASSWORD, login, refresh, signup
from tests.support.servers import ROOT, free_port, server_env, wait_http
from tests.support.smtp_sink import Sink, link_token, smtp_sink  # noqa: F401

NEW_PASSWORD = "a brand new passphrase 2031"


class Browser:
    """A cookie-keeping client that reaches the server as HTTPS through one trusted proxy hop
    (production settings send plain-HTTP browsers to https://)."""

    def __init__(self, base: str):
        self.base = base
        self.cookies: dict[str, str] = {}

    def _headers(self, path: str) -> dict[str, str]:
        origin = "https://" + urlsplit(self.base).netloc
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.9.0.1", "Origin": origin,
                   "Referer": origin + path}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **params: str) -> httpx.Response:
        return self._keep(httpx.get(self.base + path, params=params, headers=self._headers(path), timeout=30))

    def post(self, path: str, form: dict[str, str]) -> httpx.Response:
        return self._keep(httpx.post(self.base + path, data=form, headers=self._headers(path), timeout=30))


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def mail_env(sink: Sink) -> dict[str, str]:
    return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(sink.port), "TRUSTED_PROXY_COUNT": "1",
            "PUBLIC_BASE_URL": "https://auth.example.com"}


def open_link(browser: Browser, path: str, token: str) -> httpx.Response:
    moved = browser.get(path, token=token)
    assert moved.status_code == 302 and moved.headers["location"] == path, moved.text
    return browser.get(path)


def by_subject(messages: list, subject: str):  # type: ignore[no-untyped-def]
    (found,) = [m for m in messages if m["Subject"] == subject]
    return found


@pytest.mark.server
def test_password_reset_end_to_end(live_server_factory, smtp_sink: Sink, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = mail_env(smtp_sink)
    with celery_worker(server_env(**env), tmp_path / "celery.log", f"mail-{free_port()}@localhost"), \
            live_server_factory(workers=1, **env) as server:
        signup(server, "Erin@Example.com")
        old = login(server, "erin@example.com")
        r = httpx.post(f"{server}/api/v1/auth/password-reset", json={"email": "ERIN@example.com"}, timeout=30)
        assert r.status_code == 202 and r.json() == {"status": "accepted"}
        message = by_subject(smtp_sink.wait_for(2), "Reset your password")
        assert message["To"] == "erin@example.com"
        token = link_token(message, "https://auth.example.com/account/password-reset/confirm")

        browser = Browser(server)
        page = open_link(browser, "/account/password-reset/confirm", token)
        assert page.status_code == 200 and token not in page.text
        done = browser.post("/account/password-reset/confirm", {
            "csrfmiddlewaretoken": csrf(page), "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
        assert done.status_code == 200 and "Password changed" in done.text, done.text

        new = login(server, "erin@example.com", NEW_PASSWORD)
        assert httpx.get(server + ME, headers=new.auth).status_code == 200
        assert httpx.get(server + ME, headers=old.auth).status_code == 401
        assert refresh(server, old.refresh).status_code == 401
        r = httpx.post(f"{server}/api/v1/auth/login", json={"email": "erin@example.com", "password": PASSWORD})
        assert r.status_code == 401
        # The link is spent.
        r = httpx.post(f"{server}/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": PASSWORD})
        assert r.status_code == 400 and r.json()["error"] == "invalid_token"
        assert len(smtp_sink.messages) == 2


@pytest.mark.server
def test_email_verification_end_to_end(live_server_factory, smtp_sink: Sink, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = mail_env(smtp_sink)
    with celery_worker(server_env(**env), tmp_path / "celery.log", f"mail-{free_port()}@localhost"), \
            live_server_factory(workers=1, REQUIRE_VERIFIED_EMAIL="1", **env) as server:
        signup(server, "frank@example.com")
        message = by_subject(smtp_sink.wait_for(1), "Confirm your email address")
        token = link_token(message, "https://auth.example.com/account/verify-email")
        r = httpx.post(f"{server}/api/v1/auth/login", json={"email": "frank@example.com", "password": PASSWORD})
        assert r.status_code == 403 and r.json()["error"] == "email_unverified"

        page = open_link(Browser(server), "/account/verify-email", token)
        assert page.status_code == 200 and "Email verified" in page.text

        pair = login(server, "frank@example.com")
        assert httpx.get(server + ME, headers=pair.auth).json()["email_verified"] is True
        r = httpx.post(f"{server}/api/v1/auth/verify-email", json={"token": token})
        assert r.status_code == 400 and r.json()["error"] == "invalid_token"
        # Verified: asking again sends nothing.
        r = httpx.post(f"{server}/api/v1/auth/verify-email/resend", headers=pair.auth)
        assert r.status_code == 202
        # The worker takes tasks in order: had the resend mailed, that mail would come second.
        r = httpx.post(f"{server}/api/v1/auth/password-reset", json={"email": "frank@example.com"})
        assert r.status_code == 202
        smtp_sink.wait_for(2)
        assert [m["Subject"] for m in smtp_sink.messages] == ["Confirm your email address", "Reset your password"]


def restore_unacknowledged() -> None:
    """Put messages a dead worker never acknowledged back on their queue: what the Redis
    transport does once their visibility timeout has passed (here, at once)."""
    with celery_app.connection_for_write(transport_options={"visibility_timeout": 0}) as conn:
        conn.default_channel.qos.restore_visible(num=100)


@pytest.mark.server
def test_a_worker_killed_after_the_send_never_sends_twice(live_server_factory, smtp_sink: Sink,  # type: ignore[no-untyped-def]
                                                          tmp_path: Path) -> None:
    User.objects.create_user("grace@example.com", PASSWORD)
    env = mail_env(smtp_sink)
    smtp_sink.hold = threading.Event()
    with live_server_factory(workers=1, **env) as server:
        with celery_worker(server_env(**env), tmp_path / "first.log", f"first-{free_port()}@localhost") as worker:
            r = httpx.post(f"{server}/api/v1/auth/password-reset", json={"email": "grace@example.com"}, timeout=30)
            assert r.status_code == 202
            assert smtp_sink.arrived.wait(60), "the mail never reached the SMTP server"
            # The server has the mail; the worker has not heard back. Kill it now.
            os.killpg(worker.pid, signal.SIGKILL)
        smtp_sink.hold.set()
        (row,) = MailDelivery.objects.all()
        assert row.state == MailDelivery.SENDING

        restore_unacknowledged()
        with celery_worker(server_env(**env), tmp_path / "second.log", f"second-{free_port()}@localhost"):
            deadline = time.monotonic() + 60
            while MailDelivery.objects.get(pk=row.pk).state == MailDelivery.SENDING:
                assert time.monotonic() < deadline, (tmp_path / "second.log").read_text()
                time.sleep(0.1)
        assert MailDelivery.objects.get(pk=row.pk).state == MailDelivery.UNKNOWN
        assert "outcome unknown" in (tmp_path / "second.log").read_text()
        assert len(smtp_sink.messages) == 1 and smtp_sink.attempts == 1


@pytest.mark.server
def test_an_unreachable_broker_is_503_for_known_and_unknown_alike(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_user("heidi@example.com", PASSWORD)
    closed = free_port()  # nothing listens there
    with live_server_factory(workers=1, CELERY_BROKER_URL=f"redis://127.0.0.1:{closed}/0") as server:
        answers = [httpx.post(f"{server}/api/v1/auth/password-reset", json={"email": email}, timeout=60)
                   for email in ("heidi@example.com", "nobody@example.com")]
        for r in answers:
            assert r.status_code == 503 and r.json()["error"] == "unavailable", r.text
            assert int(r.headers["Retry-After"]) >= 1
        assert answers[0].content == answers[1].content
        # Signup still works: its verification mail can be asked for again later.
        r = httpx.post(f"{server}/api/v1/auth/signup", json={"email": "ivan@example.com", "password": PASSWORD})
        assert r.status_code == 201, r.text


@pytest.mark.server
def test_the_access_log_of_authsite_serve_never_holds_a_link_token(transactional_db: None, tmp_path: Path) -> None:
    token = "1-diube8-0a865c2fb8d8cf108c0392c3b603d246"
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "authsite.serve", "--port", str(port), "--workers", "1"],
                                cwd=ROOT, env=server_env(DJANGO_SECURE_SSL_REDIRECT="0"), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
            for path in ("/account/password-reset/confirm", "/account/verify-email"):
                r = httpx.get(f"http://127.0.0.1:{port}{path}", params={"token": token})
                assert r.status_code == 302 and r.headers["location"] == path
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    text = log.read_text()
    assert "/account/verify-email?token=[redacted]" in text, text[-3000:]
    assert token not in text
