"""The Oscar integration's configuration; ready() only connects receivers and registers checks."""

from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig
from django.core import checks as django_checks

from . import checks


class SegOscarConfig(AppConfig):
    name = "integrations.contrib.oscar"
    label = "seg_oscar"
    verbose_name = "Seg for django-oscar"

    def ready(self) -> None:
        # The receivers reach the app's models through its Python API, which
        # cannot be imported before the app registry is ready: loaded here by
        # name, as Django loads each app's admin module.
        import_module(f"{self.name}.receivers").connect()
        for check in checks.ALL_CHECKS:
            django_checks.register(check, "seg_oscar")
