"""The app's configuration; ready() only registers checks."""

from django.apps import AppConfig
from django.core import checks

from .checks import ALL_CHECKS, DATABASE_CHECKS


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Seg delivery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        for check in ALL_CHECKS:
            checks.register(check, "integrations")
        for check in DATABASE_CHECKS:
            checks.register(check, checks.Tags.database)
