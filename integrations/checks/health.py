"""Is delivery moving? Events due for minutes with no worker taking any.

One rule, shown on the dashboard and reported by ``manage.py check --database
default`` (``integrations.W005``): when an event has been due for longer than
STALL_AFTER and no worker has begun a delivery attempt in that time, no worker
is serving the ``seg`` queue, or none reaches the broker or the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.db.models import Max

# Longer than the sweeper's requeue (SEG_REQUEUE_AFTER, 5 minutes by default)
# would leave a healthy worker idle only if nothing were due.
STALL_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Stall:
    """Delivery has stalled: the oldest due event and the last attempt any worker began."""

    due_since: datetime
    last_attempt_at: datetime | None

    def describe(self) -> str:
        last = (
            f"the last began at {self.last_attempt_at:%Y-%m-%d %H:%M:%S %Z}"
            if self.last_attempt_at
            else "none has ever begun"
        )
        return (
            f"Events have been due since {self.due_since:%Y-%m-%d %H:%M:%S %Z}, but no worker "
            f"has begun a delivery attempt for {STALL_AFTER.seconds // 60} minutes ({last})."
        )


def delivery_stall(now: datetime) -> Stall | None:
    """The stall at ``now``, or None while delivery moves (or nothing is due).

    Two indexed reads: the oldest due event (``seg_event_due``) and the newest
    attempt (``seg_attempt_started``).
    """
    # Through the registry: the system check imports this module before models load.
    events = apps.get_model("integrations", "Event").objects
    attempts = apps.get_model("integrations", "Attempt").objects
    since = now - STALL_AFTER
    due_since = (
        events.filter(status__in=("pending", "sending"), next_attempt_at__lte=since)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if due_since is None:
        return None
    last = attempts.aggregate(last=Max("started_at"))["last"]
    if last is not None and last > since:
        return None
    return Stall(due_since=due_since, last_attempt_at=last)
