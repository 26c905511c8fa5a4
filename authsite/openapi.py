"""The OpenAPI 3.1 document of the HTTP API, served at /api/v1/schema (built once per settings)."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def _ok(description: str, schema: dict[str, Any] | None = None, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = {JSON: {"schema": schema}}
    if headers:
        response["headers"] = headers
    return response


_RETRY = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
_CHALLENGE = {"WWW-Authenticate": {"schema": {"type": "string"}}}


def _err(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return _ok(description, _ref("Error"), headers)


_COMMON = {"400": _err("Malformed body, wrong type or missing field (`validation_error`)."),
           "413": _err("Body larger than the limit (`payload_too_large`).")}
_BEARER_401 = {"401": _err("Missing, invalid, expired or revoked token (`invalid_token`).", _CHALLENGE)}


def _op(summary: str, responses: dict[str, Any], body: dict[str, Any] | None = None,
        bearer: bool = False, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses,
                          "security": [{"bearer": []}] if bearer else []}
    if body is not None:
        op["requestBody"] = body
    if params:
        op["parameters"] = params
    return op


@cache
def document() -> dict[str, Any]:
    pw = {"type": "string", "minLength": settings.PASSWORD_MIN_LENGTH, "maxLength": settings.PASSWORD_MAX_LENGTH}
    credentials = {"type": "object", "required": ["email", "password"],
                   "properties": {"email": {"type": "string", "format": "email", "maxLength": 254}, "password": pw}}
    # Login takes any password up to the maximum: accounts imported with legacy hashes may
    # hold passwords shorter than today's minimum.
    login_body = {"type": "object", "required": ["email", "password"], "properties": {
        "email": {"type": "string", "maxLength": 254},
        "password": {"type": "string", "maxLength": settings.PASSWORD_MAX_LENGTH},
        # The known-client token of an earlier login to this account (README, security).
        "client_token": {"type": "string"}}}
    refresh = {"type": "object", "required": ["refresh_token"], "properties": {"refresh_token": {"type": "string"}}}
    # Logout's body is optional, and so is its refresh_token (the other session to end too).
    logout = {"type": "object", "properties": {"refresh_token": {"type": "string"}}}
    a = "/api/v1/auth"
    return {
        "openapi": "3.1.0",
        "info": {"title": "authsite", "version": "1.0.0",
                 "description": "Authentication service: Argon2id passwords, Ed25519 JWT access tokens, "
                                "rotating refresh tokens."},
        "paths": {
            f"{a}/signup": {"post": _op("Create an account", {
                "201": _ok("Created", _ref("NewUser")), **_COMMON,
                "409": _err("Email already registered (`email_taken`)."),
                "429": _err("Too many attempts.", _RETRY), "503": _err("Overloaded.", _RETRY)}, _body(credentials))},
            f"{a}/login": {"post": _op("Log in: email and password for a token pair", {
                "200": _ok("Token pair and known-client token", _ref("LoginResult")), **_COMMON,
                "401": _err("Invalid credentials (`invalid_credentials`)."),
                "403": _err("Right password, but the deployment requires a verified email (`email_unverified`)."),
                "429": _err("Too many attempts (`too_many_attempts`).", _RETRY),
                "503": _err("Hashing pool full (`overloaded`).", _RETRY)}, _body(login_body))},
            f"{a}/refresh": {"post": _op("Rotate a refresh token", {
                "200": _ok("Token pair", _ref("TokenPair")), **_COMMON,
                "401": _err("Invalid, used or revoked refresh token (`invalid_token`).")}, _body(refresh))},
            f"{a}/logout": {"post": _op("End this session", {
                "204": _ok("Logged out"), **_COMMON, **_BEARER_401}, _body(logout, required=False), bearer=True)},
            f"{a}/logout-all": {"post": _op("End every session of the caller", {
                "204": _ok("Logged out everywhere"), **_BEARER_401}, bearer=True)},
            f"{a}/me": {"get": _op("The caller's account", {
                "200": _ok("Account", _ref("User")), **_BEARER_401}, bearer=True)},
            f"{a}/password": {"post": _op("Change password (ends every session)", {
                "204": _ok("Changed"), **_COMMON, **_BEARER_401,
                "429": _err("Too many wrong current passwords (`too_many_attempts`).", _RETRY),
                "503": _err("Hashing pool full (`overloaded`).", _RETRY)}, _body({
                    "type": "object", "required": ["current_password", "new_password"],
                    "properties": {"current_password": {"type": "string"}, "new_password": pw}}), bearer=True)},
            f"{a}/password-reset": {"post": _op(
                "Ask for a password-reset mail (same answer whether or not the account exists)", {
                    "202": _ok("Accepted: a mail is on its way if the address has an account that may reset",
                               _ref("Accepted")), **_COMMON,
                    "429": _err("Too many requests for this address or from this client (`too_many_attempts`); "
                                "unknown addresses are counted alike.", _RETRY),
                    "503": _err("The mail queue is unreachable (`unavailable`).", _RETRY)}, _body({
                        "type": "object", "required": ["email"],
                        "properties": {"email": {"type": "string", "maxLength": 254}}}))},
            f"{a}/password-reset/confirm": {"post": _op("Set a new password with a mailed token (ends every session)", {
                "204": _ok("Password set"),
                "400": _err("Invalid, expired, used or foreign token (`invalid_token`), or a new password "
                            "that breaks the rules (`validation_error`, `fields.new_password`)."),
                "413": _COMMON["413"], "503": _err("Hashing pool full (`overloaded`).", _RETRY)}, _body({
                    "type": "object", "required": ["token", "new_password"],
                    "properties": {"token": {"type": "string"}, "new_password": pw}}))},
            f"{a}/verify-email": {"post": _op("Verify the account's email with a mailed token", {
                "204": _ok("Verified"),
                "400": _err("Invalid, expired or used token (`invalid_token`), or a malformed body "
                            "(`validation_error`)."), "413": _COMMON["413"]}, _body({
                    "type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}))},
            f"{a}/verify-email/resend": {"post": _op("Mail the caller another verification link", {
                "202": _ok("Accepted (nothing is sent when the email is already verified)", _ref("Accepted")),
                **_BEARER_401, "429": _err("Too many requests (`too_many_attempts`).", _RETRY),
                "503": _err("The mail queue is unreachable (`unavailable`).", _RETRY)}, bearer=True)},
            f"{a}/sessions": {"get": _op("The caller's live sessions", {
                "200": _ok("Sessions", {"type": "object", "required": ["sessions"], "properties": {
                    "sessions": {"type": "array", "items": _ref("Session")}}}), **_BEARER_401}, bearer=True)},
            f"{a}/sessions/{{id}}": {"delete": _op("Revoke one of the caller's sessions", {
                "204": _ok("Revoked"), **_BEARER_401, "404": _err("No such session (`not_found`).")},
                bearer=True, params=[{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}])},
            "/.well-known/jwks.json": {"get": _op("Public signing keys (JWKS)", {
                "200": _ok("Key set", {"type": "object", "required": ["keys"], "properties": {
                    "keys": {"type": "array", "items": {"type": "object"}}}},
                    {"Cache-Control": {"schema": {"type": "string"}}})})},
            "/healthz": {"get": _op("Liveness (no I/O)", {"200": _ok("Alive", _ref("Status"))})},
            "/readyz": {"get": _op("Readiness of database, cache and broker", {
                "200": _ok("Ready", _ref("Status")), "503": _err("A dependency is down (named).", _RETRY)})},
            "/metrics": {"get": _op("Prometheus metrics, all worker processes summed", {
                "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}})},
            "/api/v1/schema": {"get": _op("This document", {"200": _ok("OpenAPI 3 document", {"type": "object"})})},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}},
                "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
                "TokenPair": {"type": "object", "required": ["access_token", "refresh_token", "token_type", "expires_in"],
                              "properties": {"access_token": {"type": "string"}, "refresh_token": {"type": "string"},
                                             "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer"}}},
                "LoginResult": {"allOf": [_ref("TokenPair"), {
                    "type": "object", "required": ["client_token"], "properties": {"client_token": {"type": "string"}}}]},
                "NewUser": {"type": "object", "required": ["id", "email", "date_joined"], "properties": {
                    "id": {"type": "integer"}, "email": {"type": "string"}, "date_joined": {"type": "string", "format": "date-time"}}},
                "Accepted": {"type": "object", "required": ["status"], "properties": {"status": {"const": "accepted"}}},
                "User": {"type": "object", "required": ["id", "email", "email_verified", "is_staff", "date_joined",
                                                        "last_login"], "properties": {
                    "id": {"type": "integer"}, "email": {"type": "string"}, "email_verified": {"type": "boolean"},
                    "is_staff": {"type": "boolean"},
                    "date_joined": {"type": "string", "format": "date-time"},
                    "last_login": {"type": ["string", "null"], "format": "date-time"}}},
                "Session": {"type": "object", "required": ["id", "created_at", "last_used_at", "ip", "user_agent", "current"],
                            "properties": {"id": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
                                           "last_used_at": {"type": "string", "format": "date-time"},
                                           "ip": {"type": "string"}, "user_agent": {"type": "string"},
                                           "current": {"type": "boolean"}}},
            },
        },
    }


def _rebuild(**kwargs: object) -> None:
    document.cache_clear()


setting_changed.connect(_rebuild)
