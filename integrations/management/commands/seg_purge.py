"""Delete the events past their retention (integrations.outbox.purge)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrations import delivery


class Command(BaseCommand):
    help = (
        "Delete events in an end state older than SEG_RETENTION_DAYS, and pages' events "
        "that never got an email older than SEG_BROWSER_RETENTION, in batches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="Override SEG_RETENTION_DAYS.")

    def handle(self, *args: Any, days: int | None, **options: Any) -> None:
        deleted = delivery.purge(days=days)
        self.stdout.write(f"Deleted {deleted} event(s).")
