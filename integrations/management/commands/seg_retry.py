"""Retry failed or expired events, as the admin's retry action does."""

from __future__ import annotations

from integrations import lifecycle
from integrations.models import EventQuerySet

from ._selection import SelectionCommand, sources


class Command(SelectionCommand):
    help = "Return failed or expired events to pending; the sweeper delivers them."
    statuses = sources("retry")
    action = "retry_events"

    def change(self, events: EventQuerySet) -> int:
        return lifecycle.retry(events, "seg_retry")
