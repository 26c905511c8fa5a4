"""authsite/openapi.py: /api/v1/schema is valid OpenAPI 3.1 and documents every route and the
contract's status codes."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

pytestmark = pytest.mark.django_db

# The status codes each operation promises (400 applies to every JSON body).
PROMISED_STATUSES: dict[tuple[str, str], set[str]] = {
    ("post", "/api/v1/auth/signup"): {"201", "400", "409", "429", "503"},
    ("post", "/api/v1/auth/login"): {"200", "400", "401", "403", "429", "503"},
    ("post", "/api/v1/auth/refresh"): {"200", "400", "401"},
    ("post", "/api/v1/auth/logout"): {"204", "400", "401"},
    ("post", "/api/v1/auth/logout-all"): {"204", "401"},
    ("get", "/api/v1/auth/me"): {"200", "401"},
    ("post", "/api/v1/auth/password"): {"204", "400", "401"},
    ("post", "/api/v1/auth/password-reset"): {"202", "400", "429", "503"},
    ("post", "/api/v1/auth/password-reset/confirm"): {"204", "400", "503"},
    ("post", "/api/v1/auth/verify-email"): {"204", "400"},
    ("post", "/api/v1/auth/verify-email/resend"): {"202", "401", "429", "503"},
    ("get", "/api/v1/auth/sessions"): {"200", "401"},
    ("delete", "/api/v1/auth/sessions/{}"): {"204", "401", "404"},
    ("get", "/.well-known/jwks.json"): {"200"},
    ("get", "/healthz"): {"200"},
    ("get", "/readyz"): {"200", "503"},
    ("get", "/metrics"): {"200"},
    ("get", "/api/v1/schema"): {"200"},
}
BEARER = {"/api/v1/auth/logout", "/api/v1/auth/logout-all", "/api/v1/auth/me", "/api/v1/auth/password",
          "/api/v1/auth/verify-email/resend",
          "/api/v1/auth/sessions", "/api/v1/auth/sessions/{}"}


@pytest.fixture
def document(api: Client) -> dict[str, Any]:
    response = api.get("/api/v1/schema")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def normalised(path: str) -> str:
    """Both `{id}` (OpenAPI) and `<str:session_id>` (Django) become `{}`."""
    return re.sub(r"\{[^}]*\}|<[^>]*>", "{}", path)


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, normalised(path)): op for path, item in document["paths"].items()
            for method, op in item.items() if method in {"get", "post", "put", "patch", "delete"}}


def routes() -> list[str]:
    """Every URL pattern of authsite/urls.py except the admin, as /paths."""
    found = []
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            continue  # admin/
        assert isinstance(entry, URLPattern)
        found.append("/" + str(entry.pattern))
    return found


def test_the_schema_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_route_is_documented_with_its_methods(api: Client, document: dict[str, Any]) -> None:
    documented = {normalised(path): {m for m in item if m in {"get", "post", "put", "patch", "delete"}}
                  for path, item in document["paths"].items()}
    paths = routes()
    assert len(paths) >= 14
    for route in paths:
        key = normalised(route)
        assert key in documented, f"{route} is not in the schema"
        # OPTIONS is allowed nowhere: the 405 names the methods the view really accepts.
        concrete = re.sub(r"<[^>]*>", str(uuid.uuid4()), route)
        response = api.options(concrete)
        if response.status_code == 405 and "Allow" in response:
            allowed = {m.strip().lower() for m in response["Allow"].split(",")} - {"head", "options"}
            assert allowed == documented[key], (route, allowed, documented[key])


def test_every_documented_path_is_routed(document: dict[str, Any]) -> None:
    assert {normalised(p) for p in document["paths"]} <= {normalised(r) for r in routes()}


def test_the_contracts_status_codes_are_documented(document: dict[str, Any]) -> None:
    ops = operations(document)
    assert set(ops) == set(PROMISED_STATUSES)
    for key, codes in PROMISED_STATUSES.items():
        documented = set(ops[key]["responses"])
        assert codes <= documented, (key, codes - documented)


def test_bearer_operations_declare_security_and_the_challenge(document: dict[str, Any]) -> None:
    for (method, path), op in operations(document).items():
        if path in BEARER:
            assert op["security"] == [{"bearer": []}], path
            assert "WWW-Authenticate" in op["responses"]["401"].get("headers", {}), path
        else:
            assert not op.get("security"), path
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_429_and_503_document_retry_after(document: dict[str, Any]) -> None:
    for key, op in operations(document).items():
        for code in ("429", "503"):
            if code in op["responses"]:
                assert "Retry-After" in op["responses"][code].get("headers", {}), (key, code)


def test_error_responses_use_the_error_schema(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"}
    for key, op in operations(document).items():
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (key, code)
