"""Locust load profiles for authsite (`make loadtest`, or `locust -f loadtests/locustfile.py`).

User classes (pick some on the command line, default: all):

- `SignupStorm`   – new accounts as fast as possible (hash-bound: Argon2 per request).
- `LoginUser`     – existing users logging in (hash-bound); needs `manage.py seed_users`.
- `BrowsingUser`  – logs in once, then mostly `GET /me`, sometimes lists sessions, and
                    refreshes its tokens when the access token nears expiry (token-cache bound).
- `MixedUser`     – a realistic blend: browsing most of the time, logins, a few signups,
                    failed logins and logouts.

Seeded users are `{seed-prefix}{0..seed-count-1}@example.com` with `--seed-password`, the
defaults of `manage.py seed_users`. Load tests target loopback only: any other host is refused.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from typing import Any

from locust import FastHttpUser, between, events, tag, task
from locust.env import Environment

from loadtests.targets import is_loopback

API = "/api/v1/auth"
SIGNUP_PASSWORD = "storm-password-0123-xyz"
# Refresh this many seconds before the access token expires.
REFRESH_MARGIN = 30
_serial = itertools.count()


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--seed-prefix", default="loadtest-user-", help="seeded users' local part prefix")
    parser.add_argument("--seed-count", type=int, default=1000, help="how many seeded users exist")
    parser.add_argument("--seed-password", default="load-test-password-0123", help="seeded users' password")


@events.test_start.add_listener
def _loopback_only(environment: Environment, **_: Any) -> None:
    if not is_loopback(environment.host):
        raise SystemExit(f"authsite load tests target loopback only, not {environment.host!r}")


def _seeded_email(environment: Environment) -> str:
    opts = environment.parsed_options
    count = max(1, opts.seed_count if opts else 1000)
    prefix = opts.seed_prefix if opts else "loadtest-user-"
    return f"{prefix}{random.randrange(count)}@example.com"


def _seed_password(environment: Environment) -> str:
    opts = environment.parsed_options
    return opts.seed_password if opts else "load-test-password-0123"


class AuthClient(FastHttpUser):
    """Shared helpers: JSON calls, token pair bookkeeping."""

    abstract = True
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: float = 0.0

    def _store(self, pair: dict[str, Any]) -> None:
        self.access_token = pair["access_token"]
        self.refresh_token = pair["refresh_token"]
        self.expires_at = time.monotonic() + float(pair["expires_in"])

    def login(self, email: str, password: str, name: str = "login") -> bool:
        with self.client.post(f"{API}/login", json={"email": email, "password": password}, name=name,
                              catch_response=True) as r:
            if r.status_code == 200:
                self._store(r.json())
                r.success()
                return True
            r.failure(f"login {r.status_code}")
            return False

    def login_seeded(self) -> bool:
        """Log in as a random seeded user."""
        return self.login(_seeded_email(self.environment), _seed_password(self.environment))

    def signup(self) -> None:
        email = f"storm-{uuid.uuid4().hex[:12]}-{next(_serial)}@example.com"
        with self.client.post(f"{API}/signup", json={"email": email, "password": SIGNUP_PASSWORD}, name="signup",
                              catch_response=True) as r:
            if r.status_code == 201:
                r.success()
            else:
                r.failure(f"signup {r.status_code}")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def ensure_fresh_token(self) -> None:
        """Refresh the pair when the access token is about to expire (or log in again)."""
        if self.access_token and time.monotonic() < self.expires_at - REFRESH_MARGIN:
            return
        if self.refresh_token:
            with self.client.post(f"{API}/refresh", json={"refresh_token": self.refresh_token}, name="refresh",
                                  catch_response=True) as r:
                if r.status_code == 200:
                    self._store(r.json())
                    r.success()
                    return
                r.failure(f"refresh {r.status_code}")
        self.login_seeded()

    def me(self) -> None:
        self.ensure_fresh_token()
        self.client.get(f"{API}/me", headers=self.auth_headers(), name="me")


class SignupStorm(AuthClient):
    """New accounts, back to back."""

    wait_time = between(0, 0.05)

    @task
    def signup_task(self) -> None:
        self.signup()


class LoginUser(AuthClient):
    """Existing (seeded) users logging in."""

    wait_time = between(0, 0.05)

    @task
    def login_task(self) -> None:
        self.login_seeded()


class SignedInUser(AuthClient):
    """Logs in as a seeded user when it starts."""

    abstract = True

    def on_start(self) -> None:
        self.login_seeded()


class BrowsingUser(SignedInUser):
    """A logged-in client app: /me mostly, refreshes before its access token expires."""

    wait_time = between(0.05, 0.2)

    @task(20)
    def me_task(self) -> None:
        self.me()

    @task(1)
    def sessions_task(self) -> None:
        self.ensure_fresh_token()
        self.client.get(f"{API}/sessions", headers=self.auth_headers(), name="sessions")


class MixedUser(SignedInUser):
    """A realistic blend of browsing, logins, signups, failures and logouts."""

    wait_time = between(0.1, 0.5)

    @task(30)
    def me_task(self) -> None:
        self.me()

    @task(3)
    def login_task(self) -> None:
        self.login_seeded()

    @tag("failure")
    @task(1)
    def wrong_password(self) -> None:
        with self.client.post(f"{API}/login", json={"email": _seeded_email(self.environment),
                                                    "password": "not-the-password-0123"},
                              name="login (wrong password)", catch_response=True) as r:
            # 401 is the expected answer; 429 is throttling doing its job.
            if r.status_code in (401, 429):
                r.success()
            else:
                r.failure(f"wrong password answered {r.status_code}")

    @task(1)
    def signup_task(self) -> None:
        self.signup()

    @task(1)
    def logout_and_back(self) -> None:
        self.ensure_fresh_token()
        with self.client.post(f"{API}/logout", json={"refresh_token": self.refresh_token},
                              headers=self.auth_headers(), name="logout", catch_response=True) as r:
            if r.status_code == 204:
                r.success()
            else:
                r.failure(f"logout {r.status_code}")
        self.access_token = self.refresh_token = None
        self.login_seeded()

    @task(2)
    def health(self) -> None:
        self.client.get("/healthz", name="healthz")
