"""Figures for the delivery dashboard; each a few indexed queries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    Case,
    Count,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    When,
    fields,
)
from django.db.models.functions import TruncMinute

from .. import lifecycle
from ..core import WITHHELD_BY
from ..models import Attempt, Event, Status

WINDOWS = (
    ("last hour", timedelta(hours=1)),
    ("last day", timedelta(days=1)),
    ("last week", timedelta(days=7)),
)


@dataclass(frozen=True)
class ErrorGroup:
    error_class: str
    count: int
    sample_event_id: int
    last_seen: datetime


def counts_by_window(now: datetime) -> dict[str, dict[str, int]]:
    """Events received in each of WINDOWS, by status: one pass over the longest window."""
    longest = max(span for _, span in WINDOWS)
    per_window = {
        f"in_{index}": Count("pk", filter=Q(received_at__gte=now - span))
        for index, (_, span) in enumerate(WINDOWS)
    }
    rows = (
        Event.objects.filter(received_at__gte=now - longest)
        .values("status")
        .annotate(**per_window)
        .order_by()
        .values_list("status", *per_window)
    )
    counts = {label: {status.value: 0 for status in Status} for label, _ in WINDOWS}
    for status, *numbers in rows:
        for (label, _), number in zip(WINDOWS, numbers, strict=True):
            counts[label][status] = number
    return counts


def delivered_per_minute(now: datetime, minutes: int = 60) -> list[tuple[datetime, int]]:
    """Deliveries in each of the last ``minutes`` minutes, oldest first, zeros included."""
    start = (now - timedelta(minutes=minutes - 1)).replace(second=0, microsecond=0)
    rows = (
        Event.objects.filter(status=Status.DELIVERED, delivered_at__gte=start)
        .annotate(minute=TruncMinute("delivered_at"))
        .values_list("minute")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_minute = {minute.replace(second=0, microsecond=0): n for minute, n in rows}
    return [
        (start + timedelta(minutes=i), by_minute.get(start + timedelta(minutes=i), 0))
        for i in range(minutes)
    ]


def percentiles(
    values: list[timedelta], points: tuple[float, ...] = (0.5, 0.95)
) -> dict[float, timedelta | None]:
    """Percentiles (nearest rank, from below) of ``values``; None for each when empty."""
    ordered = sorted(values)
    total = len(ordered)
    return {p: ordered[min(int(total * p), total - 1)] if total else None for p in points}


def _duration(end: Any, start: Any) -> ExpressionWrapper[Any]:
    return ExpressionWrapper(end - start, output_field=fields.DurationField())


@dataclass(frozen=True)
class DeliveryTimes:
    """Of the events delivered in a span: how long each waited to be delivered once it
    could be sent, and how long each of those that were stored held waited for release."""

    delivery: list[timedelta]
    held: list[timedelta]


def delivery_times(since: datetime, latest: int = 2000) -> DeliveryTimes:
    """The delivery and held times of the ``latest`` events delivered since ``since``
    (the most recent first: a seek of the delivered index, so the cost does not grow
    with the table or the traffic), in one query.

    Delivery time runs from the moment an event became deliverable (its receipt, or
    the last release, retry, replay or unsuppress that made it pending: its
    StatusChange rows) to Seg's 2xx, so time held is not in it. Held time runs from
    receipt to the first change to pending (the release), for events stored held;
    only their rows look that change up.
    """
    rows = (
        Event.objects.filter(status=Status.DELIVERED, delivered_at__gte=since)
        .annotate(ready_at=lifecycle.due_since())
        .annotate(
            released_at=Case(
                When(ingest_status=Status.HELD, then=lifecycle.changed_to_pending(first=True)),
                default=None,
                output_field=fields.DateTimeField(),
            )
        )
        .values_list(
            _duration(F("delivered_at"), F("ready_at")),
            _duration(F("released_at"), F("received_at")),
        )
        .order_by("-delivered_at")[:latest]
    )
    delivery, held = [], []
    for waited, was_held in rows:
        delivery.append(waited)
        if was_held is not None:
            held.append(was_held)
    return DeliveryTimes(delivery, held)


def latency_percentiles(
    since: datetime, points: tuple[float, ...] = (0.5, 0.95)
) -> dict[float, timedelta | None]:
    """Percentiles of receipt-to-delivery time for events delivered since ``since``,
    hold and all (``delivery_times`` gives the delivery and held times apart)."""
    delivered = Event.objects.filter(status=Status.DELIVERED, delivered_at__gte=since).annotate(
        latency=_duration(F("delivered_at"), F("received_at"))
    )
    total = delivered.count()
    result: dict[float, timedelta | None] = {}
    for point in points:
        if not total:
            result[point] = None
            continue
        offset = min(int(total * point), total - 1)
        result[point] = delivered.order_by("latency").values_list("latency", flat=True)[offset]
    return result


def top_errors(since: datetime, limit: int = 8) -> list[ErrorGroup]:
    rows = (
        Attempt.objects.filter(started_at__gte=since)
        .exclude(error_class="")
        .values("error_class")
        .annotate(count=Count("pk"), sample=Max("event_id"), last_seen=Max("started_at"))
        .order_by("-count")[:limit]
    )
    return [ErrorGroup(r["error_class"], r["count"], r["sample"], r["last_seen"]) for r in rows]


def oldest_pending() -> Event | None:
    return (
        Event.objects.filter(status__in=(Status.PENDING, Status.SENDING))
        .order_by("next_attempt_at")
        .only("pk", "message_id", "received_at", "next_attempt_at", "name", "email")
        .first()
    )


def held_summary() -> tuple[int, datetime | None]:
    held = Event.objects.filter(status=Status.HELD).aggregate(
        n=Count("pk"), oldest=Min("received_at")
    )
    return held["n"], held["oldest"]


def withheld_by_reason(since: datetime) -> dict[str, int]:
    """Events withheld from Seg received since ``since``, by who withheld them: the
    shop's integrations object, or the visitor's consent."""
    withheld = Event.objects.filter(status=Status.WITHHELD, received_at__gte=since)
    return {
        key: withheld.filter(status_reason__startswith=prefix).count()
        for key, prefix in WITHHELD_BY.items()
    }


@dataclass(frozen=True)
class WebsiteFigures:
    """One Seg website's delivery: events owed to it (pending or sending), the oldest
    of them received, deliveries in the last hour, and failures among the events
    received in the last day."""

    website: str
    outstanding: int = 0
    oldest: datetime | None = None
    delivered_last_hour: int = 0
    failed_last_day: int = 0


def _per_website(**match: Any) -> QuerySet[Event, tuple[str, int]]:
    """(website, count) of the rows that ``match``, one grouped query."""
    rows = Event.objects.filter(**match).values("website").annotate(n=Count("pk")).order_by()
    return rows.values_list("website", "n")


def by_website(now: datetime, websites: tuple[str, ...], default: str) -> list[WebsiteFigures]:
    """The figures of each of ``websites`` (and of any other a row names), in that order;
    rows that name none count as ``default``'s (SEG_WEBSITE_ID). Three grouped queries;
    the backlog's reads seg_event_website_due."""
    outstanding = (
        Event.objects.filter(status__in=(Status.PENDING, Status.SENDING))
        .values("website")
        .annotate(n=Count("pk"), oldest=Min("received_at"))
        .order_by()
        .values_list("website", "n", "oldest")
    )
    delivered = _per_website(status=Status.DELIVERED, delivered_at__gte=now - timedelta(hours=1))
    failed = _per_website(status=Status.FAILED, received_at__gte=now - timedelta(days=1))
    counts: dict[str, Counter[str]] = {w: Counter() for w in websites}
    oldest: dict[str, datetime] = {}
    for website, n, first in outstanding:
        key = website or default
        counts.setdefault(key, Counter())["outstanding"] += n
        oldest[key] = min(first, oldest.get(key, first))
    for field, rows in (("delivered", delivered), ("failed", failed)):
        for website, n in rows:
            counts.setdefault(website or default, Counter())[field] += n
    return [
        WebsiteFigures(w, c["outstanding"], oldest.get(w), c["delivered"], c["failed"])
        for w, c in counts.items()
    ]
