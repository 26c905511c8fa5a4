from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import inventory, receivers  # noqa: F401  (receivers connects model hooks)
        from authsite.kit import metrics

        metrics.on_scrape(inventory.maybe_refresh_users_gauge)
