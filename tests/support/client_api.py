"""Helpers for API tests through django.test.Client: users, logins, contract checks, hash spies.

Fixtures are defined here and re-exported by the conftest.py of each test package that uses them.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.test import Client

from accounts import passwords
from accounts.hashers import Argon2idHasher
from accounts.models import User

PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "a different long passphrase 42"
API = "/api/v1/auth"
BEARER_CHALLENGE = 'Bearer error="invalid_token"'


def post_json(client: Client, path: str, data: Any = None, token: str | None = None, **extra: Any) -> Any:
    kwargs: dict[str, Any] = dict(extra)
    if token is not None:
        kwargs["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if data is None:  # no body at all, as `curl -X POST` sends it
        return client.generic("POST", path, b"", content_type="", **kwargs)
    body = data if isinstance(data, (bytes, str)) else json.dumps(data)
    return client.post(path, body, content_type=kwargs.pop("content_type", "application/json"), **kwargs)


def get(client: Client, path: str, token: str | None = None) -> Any:
    if token is None:
        return client.get(path)
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def login(client: Client, email: str, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    response = post_json(client, f"{API}/login", {"email": email, "password": password}, **extra)
    assert response.status_code == 200, response.content
    return response.json()


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The contract's error shape: JSON {"error", "message"[, "fields"]} and nothing else."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"error", "message", "fields"}, body
    if "fields" in body:
        assert body["fields"], body
        for name, messages in body["fields"].items():
            assert isinstance(name, str)
            assert messages and all(isinstance(m, str) and m for m in messages), body
    return body


def assert_validation_error(response: Any, *fields: str) -> dict[str, Any]:
    body = assert_error(response, 400, "validation_error")
    if fields:
        assert set(body.get("fields", {})) == set(fields), body
    return body


def assert_invalid_token(response: Any) -> None:
    assert_error(response, 401, "invalid_token")
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE


def assert_no_content(response: Any) -> None:
    assert response.status_code == 204, (response.status_code, response.content[:500])
    assert response.content == b""
    assert "Content-Type" not in response


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """Header, claims and raw signature of a compact JWS (no verification)."""
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), unb64(signature)


def argon2_hash(password: str, *, time_cost: int, memory_cost: int, parallelism: int = 1) -> str:
    """An Argon2id hash at parameters other than the configured ones."""
    hasher_class = type("OtherArgon2", (Argon2idHasher,),
                        {"time_cost": time_cost, "memory_cost": memory_cost, "parallelism": parallelism})
    return make_password(password, hasher=hasher_class())


def pbkdf2_hash(password: str, iterations: int = 1000) -> str:
    """A PBKDF2-SHA256 hash (few iterations: legacy and quick to make)."""
    hasher_class = type("CheapPBKDF2", (PBKDF2PasswordHasher,), {"iterations": iterations})
    return make_password(password, hasher=hasher_class())


@dataclass
class HashSpy:
    """Counts real Argon2 encode/verify calls (they still run), with the encoded hash verified
    against and the name of the thread they ran on."""

    encodes: list[str] = field(default_factory=list)
    verifies: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def current_verifies(self) -> int:
        """Verifications against a hash at the current Argon2id parameters."""
        return sum(1 for encoded, _ in self.verifies if passwords.hash_status(encoded) == "current")

    @property
    def total(self) -> int:
        return len(self.encodes) + len(self.verifies)

    @property
    def threads(self) -> set[str]:
        return set(self.encodes) | {name for _, name in self.verifies}

    def reset(self) -> None:
        with self.lock:
            self.encodes.clear()
            self.verifies.clear()


@pytest.fixture
def hash_spy(monkeypatch: pytest.MonkeyPatch) -> HashSpy:
    """Spy on the real Argon2 hasher: every call still hashes, and is counted."""
    spy = HashSpy()
    real_encode = Argon2idHasher.encode
    real_verify = Argon2idHasher.verify

    def encode(self: Argon2idHasher, password: str, salt: str) -> str:
        with spy.lock:
            spy.encodes.append(threading.current_thread().name)
        return real_encode(self, password, salt)

    def verify(self: Argon2idHasher, password: str, encoded: str) -> bool:
        with spy.lock:
            spy.verifies.append((encoded, threading.current_thread().name))
        return real_verify(self, password, encoded)

    monkeypatch.setattr(Argon2idHasher, "encode", encode)
    monkeypatch.setattr(Argon2idHasher, "verify", verify)
    return spy


@pytest.fixture
def api() -> Client:
    return Client()


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("alice@example.com", PASSWORD)


@pytest.fixture
def tokens(api: Client, user: User) -> dict[str, Any]:
    """A token pair of `user`, obtained through the login endpoint."""
    return login(api, user.email)
