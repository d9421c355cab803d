"""Send delivered events to Seg again (same Idempotency-Key)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrations import operations, outbox
from integrations.models import Status

from ._selection import add_selection_arguments, progress_bar, selection


class Command(BaseCommand):
    help = "Return delivered events to pending, to be sent again."

    def add_arguments(self, parser: CommandParser) -> None:
        add_selection_arguments(parser, [Status.DELIVERED.value])

    def handle(self, *args: Any, **options: Any) -> None:
        queryset = selection(options, [Status.DELIVERED.value])
        if options["dry_run"]:
            self.stdout.write(f"Would replay {queryset.count()} event(s).")
            return
        changed = operations.in_batches(
            lambda chunk: operations.replay(chunk, "seg_replay"), queryset, progress=progress_bar()
        )
        outbox.sweep()
        self.stdout.write(self.style.SUCCESS(f"Replayed {changed} event(s)."))
