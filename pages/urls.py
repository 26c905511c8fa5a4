"""Paths of the pages, mounted under /account/ by the wiring (authsite/urls.py)."""

from django.urls import path

from pages import views

app_name = "pages"

urlpatterns = [
    path("", views.account, name="account"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("logout-everywhere/", views.logout_everywhere, name="logout-everywhere"),
    path("sessions/<str:session_id>/end/", views.end_session, name="end-session"),
    path("password/", views.change_password, name="password"),
]
