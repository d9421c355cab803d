"""Delete delivered and ignored events past the retention period."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrations import outbox


class Command(BaseCommand):
    help = "Delete delivered and ignored events older than SEG_RETENTION_DAYS, in batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="Override SEG_RETENTION_DAYS.")

    def handle(self, *args: Any, days: int | None, **options: Any) -> None:
        deleted = outbox.purge(days=days)
        self.stdout.write(f"Deleted {deleted} event(s).")
