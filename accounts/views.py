"""Account endpoints: parse input, call a service, shape output.

Views that need a caller (`me`, `change_password`) declare `authenticated=True` and read
`request.auth.user_id`, set by settings.API_AUTHENTICATOR (accounts does not know about tokens).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from accounts import services
from accounts.models import User
from authsite.errors import api_endpoint
from authsite.http import client_ip, json_response, no_content, read_json_object, string_fields


def user_body(user: User) -> dict[str, object]:
    return {"id": user.pk, "email": user.email, "is_staff": user.is_staff,
            "date_joined": user.date_joined, "last_login": user.last_login}


@api_endpoint("POST")
async def signup(request: HttpRequest) -> HttpResponse:
    data = read_json_object(request)
    email, password = string_fields(data, "email", "password")
    user = await services.asignup(email, password, client_ip(request))
    return json_response({"id": user.pk, "email": user.email, "date_joined": user.date_joined}, status=201)


@api_endpoint("GET", authenticated=True)
async def me(request: HttpRequest) -> HttpResponse:
    user = await services.aget_active_user(request.auth.user_id)  # type: ignore[attr-defined]
    return json_response(user_body(user))


@api_endpoint("POST", authenticated=True)
async def change_password(request: HttpRequest) -> HttpResponse:
    data = read_json_object(request)
    current, new = string_fields(data, "current_password", "new_password")
    await services.achange_password(request.auth.user_id, current, new)  # type: ignore[attr-defined]
    return no_content()
