"""A plain HTML form view (no csrf decorator of its own) next to the real URLs, for the CSRF test."""

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import path

from authsite.urls import urlpatterns as site


def form(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return HttpResponse("saved")
    return HttpResponse(get_token(request))


urlpatterns = [path("test-form/", form), *site]
