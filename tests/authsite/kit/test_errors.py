"""authsite.kit.errors with the project table: every exception becomes the contract's error response, in one place."""

from __future__ import annotations

import orjson
import pytest
from django.db import OperationalError

from accounts import exceptions as acc
from authsite.kit.errors import response_for
from authsite.kit.exceptions import ValidationFailed
from tokens import exceptions as tok


@pytest.mark.parametrize("exc, status, code, headers", [
    (ValidationFailed("Invalid input.", {"email": ["Bad."]}), 400, "validation_error", {}),
    (acc.EmailTaken(), 409, "email_taken", {}),
    (acc.InvalidCredentials(), 401, "invalid_credentials", {}),
    (acc.TooManyAttempts(42), 429, "too_many_attempts", {"Retry-After": "42"}),
    (acc.Overloaded(), 503, "overloaded", {"Retry-After": "1"}),
    (tok.InvalidToken("revoked"), 401, "invalid_token", {"WWW-Authenticate": 'Bearer error="invalid_token"'}),
    (acc.AccountUnavailable(), 401, "invalid_token", {"WWW-Authenticate": 'Bearer error="invalid_token"'}),
    (tok.SessionNotFound(), 404, "not_found", {}),
    (OperationalError("connection refused to 10.0.0.5"), 503, "unavailable", {"Retry-After": "1"}),
    (RuntimeError("secret detail"), 500, "internal_error", {}),
])
def test_each_error_maps_to_its_status_body_and_headers(exc: Exception, status: int, code: str,
                                                        headers: dict[str, str]) -> None:
    response = response_for(exc)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = orjson.loads(response.content)
    assert body["error"] == code and body["message"]
    assert set(body) == ({"error", "message", "fields"} if code == "validation_error" else {"error", "message"})
    for name, value in headers.items():
        assert response[name] == value
    # Internal reasons never reach the client.
    assert b"revoked" not in response.content
    assert b"secret detail" not in response.content and b"10.0.0.5" not in response.content


def test_validation_errors_carry_their_fields() -> None:
    body = orjson.loads(response_for(ValidationFailed("Invalid input.", {"password": ["Too short."]})).content)
    assert body == {"error": "validation_error", "message": "Invalid input.", "fields": {"password": ["Too short."]}}


def test_a_validation_error_without_fields_has_no_fields_key() -> None:
    body = orjson.loads(response_for(ValidationFailed("Request body is not valid JSON.")).content)
    assert body == {"error": "validation_error", "message": "Request body is not valid JSON."}


def test_only_connection_failures_are_outages() -> None:
    from django.db import IntegrityError, OperationalError

    from authsite.kit.errors import response_for

    assert response_for(OperationalError("server closed the connection")).status_code == 503
    assert response_for(IntegrityError("duplicate key")).status_code == 500
