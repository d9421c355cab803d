"""The app's configuration; ready() only registers checks, and traces when SEG_TRACING is on."""

from django.apps import AppConfig
from django.core import checks

from . import tracing
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
        tracing.setup()
