"""The outbox sweeper and retention: periodic work over the events table.

Both cost what they touch, not the table's size: the sweeper reads the
partial index of due rows, retention deletes in small batches by the
partial index of expirable rows.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import conf, dispatch, lifecycle, ordering, throttle
from .models import Event, Status

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sweep:
    queued: int
    expired: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def sweep(now: datetime | None = None) -> Sweep:
    """Queue due events that no live task will pick up, and expire stale holds.

    An event is orphaned when its wake-up was never queued (the broker was
    down), was queued longer than SEG_REQUEUE_AFTER ago (the broker lost it),
    or was consumed by a worker whose lease then lapsed (the worker died).
    With SEG_ORDER_PER_CUSTOMER, one that waits on an earlier event of its
    customer is left to that event's outcome.
    """
    now = now or timezone.now()
    expired = expire_holds(now)
    cutoff = now - conf.get_setting("SEG_REQUEUE_AFTER")
    # While the circuit is open, one event a pass is enough to probe Seg.
    limit = 1 if throttle.is_open() else conf.get_setting("SEG_SWEEP_BATCH")
    with transaction.atomic():
        found = list(orphans(now, cutoff, limit))
        # An event that waits on an earlier one of its customer is not queued
        # but marked all the same: that one's outcome queues it, and the sweep
        # looks at it again only SEG_REQUEUE_AFTER later, not every pass.
        waiting = ordering.waiting(found)
        ids = [pk for pk in found if pk not in waiting]
        if found:
            lifecycle.mark_queued(found, now)
        if ids:
            transaction.on_commit(lambda: dispatch.queue(ids))
    if found or expired:
        logger.info(
            "Sweep: queued %d due event(s), %d left waiting on an earlier one, expired %d hold(s).",
            len(ids),
            len(waiting),
            expired,
        )
    return Sweep(queued=len(ids), expired=expired)


def orphans(now: datetime, cutoff: datetime, limit: int) -> QuerySet[Event, int]:
    """The ids a sweep takes, oldest due first; run it inside a transaction.

    Sweeps that overlap (several beats, or a backlog of sweep tasks after a
    broker outage) take disjoint rows rather than each queue them all.
    """
    return (
        Event.objects.orphaned(now, cutoff)
        .select_for_update(skip_locked=True)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


def expire_holds(now: datetime) -> int:
    """End holds older than SEG_ANONYMOUS_HOLD: kept and shown, never sent."""
    hold: timedelta = conf.get_setting("SEG_ANONYMOUS_HOLD")
    stale = Event.objects.filter(status=Status.HELD, received_at__lt=now - hold)
    return lifecycle.move(stale, "expire", f"No email became known within {hold}.", now=now)


def purge(now: datetime | None = None, days: int | None = None) -> int:
    """Delete delivered and ignored events older than the retention; the count deleted.

    Works in batches of SEG_RETENTION_BATCH so no lock is held for long.
    Failed, held, expired and suppressed events are never deleted here.
    """
    now = now or timezone.now()
    days = conf.get_setting("SEG_RETENTION_DAYS") if days is None else days
    before = now - timedelta(days=days)
    size = conf.get_setting("SEG_RETENTION_BATCH")
    deleted = 0
    while True:
        ids = list(
            Event.objects.filter(
                status__in=lifecycle.PURGEABLE, received_at__lt=before
            ).values_list("id", flat=True)[:size]
        )
        if not ids:
            return deleted
        deleted += lifecycle.purge(Event.objects.filter(pk__in=ids))
