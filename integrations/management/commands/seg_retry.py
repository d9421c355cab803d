"""Retry failed or expired events, as the admin's retry action does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrations import operations, outbox

from ._selection import RETRYABLE, add_selection_arguments, progress_bar, selection


class Command(BaseCommand):
    help = "Return failed or expired events to pending; the sweeper delivers them."

    def add_arguments(self, parser: CommandParser) -> None:
        add_selection_arguments(parser, RETRYABLE)

    def handle(self, *args: Any, **options: Any) -> None:
        queryset = selection(options, RETRYABLE)
        if options["dry_run"]:
            self.stdout.write(f"Would retry {queryset.count()} event(s).")
            return
        changed = operations.in_batches(
            lambda chunk: operations.retry(chunk, "seg_retry"), queryset, progress=progress_bar()
        )
        outbox.sweep()
        self.stdout.write(self.style.SUCCESS(f"Retried {changed} event(s)."))
