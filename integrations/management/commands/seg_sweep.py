"""Run one sweeper pass: queue orphaned due events, expire stale holds."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from integrations import delivery


class Command(BaseCommand):
    help = "Queue due events that have no live task, and expire holds past SEG_ANONYMOUS_HOLD."

    def handle(self, *args: Any, **options: Any) -> None:
        result = delivery.sweep()
        self.stdout.write(f"Queued {result.queued} event(s); expired {result.expired} hold(s).")
