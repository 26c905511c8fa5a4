from django.apps import AppConfig


class KitConfig(AppConfig):
    """The shared kit as an app: its system checks, and per-process metric bookkeeping."""

    name = "authsite.kit"
    label = "authsite_kit"

    def ready(self) -> None:
        from authsite.kit import checks, metrics  # noqa: F401  (checks registers system checks)

        metrics.start_process_bookkeeping()
