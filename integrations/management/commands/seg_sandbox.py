"""Run the local Seg sandbox: records deliveries, never forwards them."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrations.dev import BANNER, Sandbox


class Command(BaseCommand):
    help = "Run a local stand-in for Seg's tracker that records what it receives."
    # The sandbox plays Seg; it needs none of the settings that reach Seg.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        logging.getLogger("integrations.sandbox").setLevel(logging.INFO)
        sandbox = Sandbox(host, port, log_level=logging.INFO)
        self.stdout.write(self.style.WARNING(f"{BANNER}\nListening on {sandbox.url}"))
        try:
            sandbox.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.server.server_close()
