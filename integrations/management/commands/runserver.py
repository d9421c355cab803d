"""``runserver`` that also reads request bodies sent chunked (see integrations.dev.devserver).

It extends the runserver that would otherwise run: django.contrib.staticfiles' when
that app is installed, else Django's own. ``integrations`` must be listed before
``django.contrib.staticfiles`` in INSTALLED_APPS for this command to win.
"""

from __future__ import annotations

from django.apps import apps

from integrations.dev import ChunkedWSGIServer

if not apps.is_installed("django.contrib.staticfiles"):
    from django.core.management.commands.runserver import Command as RunserverCommand
else:
    from django.contrib.staticfiles.management.commands.runserver import (
        Command as RunserverCommand,
    )


class Command(RunserverCommand):
    help = f"{RunserverCommand.help} Reads request bodies sent chunked."
    server_cls = ChunkedWSGIServer
