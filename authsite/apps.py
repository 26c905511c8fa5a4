from django.apps import AppConfig


class AuthsiteConfig(AppConfig):
    """Project wiring as an app, so that its system checks are registered."""

    name = "authsite"

    def ready(self) -> None:
        from authsite import checks  # noqa: F401  (registers system checks)
