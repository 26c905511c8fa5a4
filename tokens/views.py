"""Token endpoints: parse input, call a service, shape output."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from accounts import services as accounts
from authsite.kit.errors import api_endpoint
from authsite.kit.http import client_ip, json_response, no_content, read_json_object, string_fields
from tokens import keys, selectors, services

# Short: relying parties must pick up a rotated key quickly (and refetch on an unknown kid).
JWKS_MAX_AGE = 60


def _user_agent(request: HttpRequest) -> str:
    return request.headers.get("User-Agent", "")[:256]


@api_endpoint("POST")
async def login(request: HttpRequest) -> HttpResponse:
    data = read_json_object(request)
    email, password = string_fields(data, "email", "password")
    client_token = data.get("client_token")
    if client_token is not None:
        (client_token,) = string_fields(data, "client_token")
    attempt = accounts.login_attempt(email, password, client_ip(request), client_token)
    user = await accounts.aauthenticate(attempt, password)
    pair = await services.aissue_pair(user, attempt.ip, _user_agent(request))
    body = {**pair.as_dict(), "client_token": attempt.client_token(user)}
    return json_response(body, headers={"Cache-Control": "no-store"})


@api_endpoint("POST")
async def refresh(request: HttpRequest) -> HttpResponse:
    data = read_json_object(request)
    (token,) = string_fields(data, "refresh_token")
    pair = await services.arefresh(token, client_ip(request))
    return json_response(pair.as_dict(), headers={"Cache-Control": "no-store"})


@api_endpoint("POST", authenticated=True)
async def logout(request: HttpRequest) -> HttpResponse:
    data = read_json_object(request, optional=True)
    token = None
    if "refresh_token" in data:  # optional, but a string when present (null included)
        (token,) = string_fields(data, "refresh_token")
    await services.alogout(request.auth, token)  # type: ignore[attr-defined]
    return no_content()


@api_endpoint("POST", authenticated=True)
async def logout_all(request: HttpRequest) -> HttpResponse:
    await services.alogout_all(request.auth)  # type: ignore[attr-defined]
    return no_content()


@api_endpoint("GET", authenticated=True)
async def sessions(request: HttpRequest) -> HttpResponse:
    auth = request.auth  # type: ignore[attr-defined]
    rows = await selectors.alive_sessions(auth.user_id, auth.session_id)
    return json_response({"sessions": rows})


@api_endpoint("DELETE", authenticated=True)
async def session_detail(request: HttpRequest, session_id: str) -> HttpResponse:
    await services.arevoke_session(request.auth.user_id, session_id)  # type: ignore[attr-defined]
    return no_content()


@api_endpoint("GET")
async def jwks(request: HttpRequest) -> HttpResponse:
    body = await keys.ajwks()
    return json_response(body, headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"})
