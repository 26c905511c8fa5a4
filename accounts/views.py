"""Account endpoints: parse input, call a service, shape output.

Views that need a caller (`me`, `change_password`) declare `authenticated=True` and read
`request.auth.user_id`, set by settings.API_AUTHENTICATOR (accounts does not know about tokens).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from accounts import profiles, reset, services, verification
from authsite.kit.errors import api_endpoint
from authsite.kit.http import client_ip, json_response, no_content, read_json_object, string_fields


@api_endpoint("POST")
async def signup(request: HttpRequest) -> HttpResponse:
    data = read_json_object(request)
    email, password = string_fields(data, "email", "password")
    user = await services.asignup(email, password, client_ip(request))
    return json_response({"id": user.pk, "email": user.email, "date_joined": user.date_joined}, status=201)


@api_endpoint("GET", authenticated=True)
async def me(request: HttpRequest) -> HttpResponse:
    auth = request.auth  # type: ignore[attr-defined]
    profile = await profiles.aget_profile(auth.user_id, getattr(auth, "profile", None))
    return json_response(profile)


@api_endpoint("POST", authenticated=True)
async def change_password(request: HttpRequest) -> HttpResponse:
    data = read_json_object(request)
    current, new = string_fields(data, "current_password", "new_password")
    await services.achange_password(request.auth.user_id, current, new, client_ip(request))  # type: ignore[attr-defined]
    return no_content()


ACCEPTED = {"status": "accepted"}


@api_endpoint("POST")
async def password_reset(request: HttpRequest) -> HttpResponse:
    data = read_json_object(request)
    (email,) = string_fields(data, "email")
    await reset.arequest_reset(email, client_ip(request))
    return json_response(ACCEPTED, status=202)


@api_endpoint("POST")
async def password_reset_confirm(request: HttpRequest) -> HttpResponse:
    data = read_json_object(request)
    token, new_password = string_fields(data, "token", "new_password")
    await reset.aconfirm_reset(token, new_password)
    return no_content()


@api_endpoint("POST")
async def verify_email(request: HttpRequest) -> HttpResponse:
    data = read_json_object(request)
    (token,) = string_fields(data, "token")
    await verification.averify_email(token)
    return no_content()


@api_endpoint("POST", authenticated=True)
async def resend_verification(request: HttpRequest) -> HttpResponse:
    await verification.aresend(request.auth.user_id, client_ip(request))  # type: ignore[attr-defined]
    return json_response(ACCEPTED, status=202)
