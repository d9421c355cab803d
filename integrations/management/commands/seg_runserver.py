"""``seg_runserver``: the development server, reading request bodies sent chunked too (see
integrations.dev.devserver).

Opt-in: installing the app leaves the host's ``runserver`` as it was. This command
extends the runserver the host would otherwise run: django.contrib.staticfiles' when
that app is installed, else Django's own, so it takes the same options.
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
