from django.apps import AppConfig


class PagesConfig(AppConfig):
    """Server-rendered pages for people: sign up, log in, the account page."""

    name = "pages"
    default_auto_field = "django.db.models.BigAutoField"
