"""An event's history, built from its rows without reading the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from integrations.models import Attempt, Event, Status, StatusChange
from integrations.operating.timeline import Entry, entries

T0 = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)


def attempt(number: int, minute: int, verdict: str, **fields: object) -> Attempt:
    return Attempt(
        number=number,
        started_at=T0 + timedelta(minutes=minute),
        duration_ms=12.4,
        verdict=verdict,
        **fields,
    )


def test_receipt_attempts_and_changes_in_time_order() -> None:
    event = Event(received_at=T0, ingest_status=Status.PENDING)
    attempts = [
        attempt(1, 1, "retry", status_code=503),
        attempt(2, 3, "failed", error_class="ReadTimeout"),
        attempt(3, 4, "delivered", status_code=200),
    ]
    changes = [StatusChange(at=T0 + timedelta(minutes=4), status="pending", cause="Retried.")]
    assert entries(event, attempts, changes) == [
        Entry(T0, "pending", "Received and stored."),
        Entry(T0 + timedelta(minutes=1), "pending", "Attempt 1: HTTP 503 in 12 ms."),
        Entry(T0 + timedelta(minutes=3), "failed", "Attempt 2: ReadTimeout in 12 ms."),
        # At the same moment an attempt comes before a change.
        Entry(T0 + timedelta(minutes=4), "delivered", "Attempt 3: HTTP 200 in 12 ms."),
        Entry(T0 + timedelta(minutes=4), "pending", "Retried."),
    ]
