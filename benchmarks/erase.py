"""Benchmark: erasing one customer with 100k events from a table of 1M, while the shop's
other customers' calls keep being stored.

The table is filled by SQL: 1M events with an attempt each (900k of 50,000 other
customers, 100k of the one erased, who also has identities, an alias and a
held anonymous history). The figure is the request's wall time; beside it, the
p99 and worst time of storing one other customer's call during the erasure,
against the same measured before it: batches keep the table open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection

from integrations import api
from integrations.ingest import ingest
from integrations.models import Event

from .harness import Row, percentile

ERASED = "erased@example.com"


def fill(total: int, theirs: int) -> None:
    """``total`` events, ``theirs`` of them the erased customer's, an attempt each; by SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO integrations_event (message_id, source, call_type, name, user_id,
              anonymous_id, email, order_id, action, seg_event, status, ingest_status,
              status_reason, message, payload, warnings, attempts, tries, last_error,
              timestamp, received_at, delivered_at, updated_at)
            SELECT 'erase-' || g, 'server', 'track', 'Order Completed',
              CASE WHEN g <= %(theirs)s THEN 'user-erased' ELSE 'user-' || mod(g, 50000) END,
              'anon-' || mod(g, 7),
              CASE WHEN g <= %(theirs)s THEN %(email)s
                   ELSE 'customer' || mod(g, 50000) || '@example.com' END,
              'order-' || g, 'order-placed', 'OrderPlaced', 'delivered', 'pending', '',
              jsonb_build_object('type', 'track', 'event', 'Order Completed'),
              jsonb_build_object('MessageId', 'erase-' || g, 'Total', 30),
              '[]'::jsonb, 1, 1, '', now() - (g || ' seconds')::interval,
              now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval,
              now() - (g || ' seconds')::interval
            FROM generate_series(1, %(total)s) AS g
            """,
            {"theirs": theirs, "total": total, "email": ERASED},
        )
        cursor.execute(
            """
            INSERT INTO integrations_attempt (event_id, number, started_at, duration_ms, url,
              status_code, response_excerpt, error_class, error, verdict, retry_at)
            SELECT id, 1, received_at, 12.5, 'https://tracker.segapp.com/x/order-placed', 200,
              '{}', '', '', 'delivered', NULL
            FROM integrations_event
            """
        )
        cursor.execute("ANALYZE integrations_event; ANALYZE integrations_attempt;")
    ingest(
        [
            {"type": "page", "anonymousId": "anon-erased", "name": "Home"},
            {
                "type": "identify",
                "userId": "user-erased",
                "anonymousId": "anon-erased-2",
                "traits": {"email": "old-erased@example.com"},
            },
            {"type": "alias", "previousId": "old-erased@example.com", "userId": ERASED},
            {
                "type": "track",
                "userId": "user-erased",
                "anonymousId": "anon-erased",
                "event": "Product Viewed",
                "properties": {"id": "p1"},
            },
        ]
    )


def store_times(stop: threading.Event, times: list[float]) -> None:
    """Store one other customer's call at a time until ``stop``; each one's milliseconds."""
    i = 0
    try:
        while not stop.is_set():
            i += 1
            message = {
                "type": "track",
                "userId": f"probe-{i % 100}",
                "event": "Product Viewed",
                "properties": {"id": f"p{i}"},
                "context": {"traits": {"email": f"probe{i % 100}@example.com"}},
            }
            started = time.perf_counter()
            ingest([message])
            times.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
    finally:
        connection.close()


def while_probing(work: Callable[[], Any], seconds: float | None = None) -> list[float]:
    times: list[float] = []
    stop = threading.Event()
    probe = threading.Thread(target=store_times, args=(stop, times))
    probe.start()
    try:
        if seconds is not None:
            time.sleep(seconds)
        else:
            work()
    finally:
        stop.set()
        probe.join()
    return times


def bench(reset: Callable[[], None], scale: float) -> list[Row]:
    total, theirs = max(int(1_000_000 * scale), 1000), max(int(100_000 * scale), 100)
    reset()
    fill(total, theirs)
    quiet = while_probing(lambda: None, seconds=5)
    done: dict[str, Any] = {}
    started = time.perf_counter()
    during = while_probing(lambda: done.update(record=api.erase(email=ERASED, by="bench")))
    took = time.perf_counter() - started
    record = done["record"]
    assert not Event.objects.filter(email=ERASED).exists()
    events, attempts = record.counts.get("event", 0), record.counts.get("attempt", 0)
    return [
        Row(
            f"erase one customer: {theirs:,} of {total:,} events, with their attempts",
            took,
            "s",
            target=f"{events:,} events and {attempts:,} attempts deleted",
            note=f"{(events + attempts) / took:,.0f} rows/s; batches of SEG_ERASURE_BATCH",
            extra={"counts": record.counts},
        ),
        Row(
            "store another customer's call during the erasure, p99",
            percentile(during, 0.99),
            "ms",
            baseline=percentile(quiet, 0.99),
            target="the table stays open",
            note=f"worst {max(during):,.1f} ms (before: {max(quiet):,.1f} ms), "
            f"{len(during)} calls stored",
        ),
    ]
