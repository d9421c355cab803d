"""Send delivered events to Seg again (same Idempotency-Key)."""

from __future__ import annotations

from integrations import lifecycle
from integrations.models import EventQuerySet

from ._selection import SelectionCommand, sources


class Command(SelectionCommand):
    help = "Return delivered events to pending, to be sent again."
    statuses = sources("replay")
    action = "replay_events"

    def change(self, events: EventQuerySet) -> int:
        return lifecycle.replay(events, "seg_replay")
