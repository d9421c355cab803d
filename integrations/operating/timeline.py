"""An event's history as an operator reads it: received, each attempt, each change."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..core import Verdict
from ..models import Attempt, Event, Status, StatusChange
from . import dates

# The status an attempt's verdict leaves the event in.
AFTER = {
    Verdict.DELIVERED: Status.DELIVERED,
    Verdict.RETRY: Status.PENDING,
    Verdict.FAILED: Status.FAILED,
}


@dataclass(frozen=True)
class Entry:
    at: datetime
    status: str
    cause: str


def history(event: Event, attempts: Iterable[Attempt]) -> list[Entry]:
    """The event's history, oldest first, from its ``attempts`` (already read, as the
    event's page shows them too) and its status changes (one query)."""
    return entries(event, attempts, StatusChange.objects.filter(event=event))


def entries(
    event: Event, attempts: Iterable[Attempt], changes: Iterable[StatusChange]
) -> list[Entry]:
    """Receipt, then each attempt and each change, in time order; at the same moment,
    in that order. Reads nothing."""
    timeline = [Entry(event.received_at, event.ingest_status, "Received and stored.")]
    for attempt in attempts:
        answer = f"HTTP {attempt.status_code}" if attempt.status_code else attempt.error_class
        note = f"Attempt {attempt.number}: {answer} in {attempt.duration_ms:.0f} ms"
        if attempt.retry_at:
            note += f"; retry due {dates.shown(attempt.retry_at)}"
        timeline.append(Entry(attempt.started_at, AFTER[Verdict(attempt.verdict)], note + "."))
    timeline += [Entry(change.at, change.status, change.cause) for change in changes]
    timeline.sort(key=lambda entry: entry.at)
    return timeline
