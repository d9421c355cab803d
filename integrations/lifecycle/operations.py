"""What operators do to events: retry, replay, suppress, unsuppress.

Admin actions and management commands both call these. Each is set-based
(``moves.move``: one INSERT ... SELECT of history, one UPDATE), whatever
the selection's size; what becomes due is queued for delivery on commit.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..models import EventQuerySet, Status
from . import moves, ordering, wakeups
from .moves import HELD_REASON, MoveName
from .sendable import SENDABLE


def _make_due(queryset: EventQuerySet, name: MoveName, cause: str, **changes: Any) -> int:
    """Move events to pending, due now, and queue their delivery once this commits.

    Only events with an email and something to send move (``moves.move``);
    the others stay as they are (``unsendable`` counts them).
    """
    with transaction.atomic():
        sources = moves.MOVES[name].sources
        due = queryset.filter(SENDABLE, status__in=sources)
        ids = list(due.values_list("pk", flat=True))
        changed = moves.move(
            queryset,
            name,
            cause,
            next_attempt_at=timezone.now(),
            enqueued_at=None,
            status_reason="",
            **changes,
        )
        if changed:
            transaction.on_commit(partial(wakeups.queue, ids))
    return changed


def _fresh_round(queryset: EventQuerySet, name: MoveName, cause: str) -> int:
    """Deliverable now, with a fresh round of tries and retry window."""
    return _make_due(queryset, name, cause, first_attempt_at=None, tries=0)


def unsendable(
    queryset: EventQuerySet, name: MoveName | None = None, cap: int | None = None
) -> int:
    """How many events of ``queryset`` (those move ``name`` takes, if given) no move may make
    pending: no email, or nothing to send. Counts at most ``cap``."""
    rows = queryset.exclude(SENDABLE)
    if name is not None:
        rows = rows.filter(status__in=moves.MOVES[name].sources)
    rows = rows.order_by()
    return int((rows[:cap] if cap is not None else rows).count())


def retry(queryset: EventQuerySet, actor: str) -> int:
    """Failed and expired events go back to pending, due now; the count changed.

    One with no email or nothing to send stays as it is: an expired one stays
    expired (its visitor's email never became known in its hold).
    """
    return _fresh_round(queryset, "retry", f"Retried by {actor}.")


def replay(queryset: EventQuerySet, actor: str) -> int:
    """Delivered events are sent again (with the same Idempotency-Key); those with no
    email or nothing to send stay delivered."""
    return _fresh_round(queryset, "replay", f"Replayed by {actor}.")


def suppress(queryset: EventQuerySet, actor: str, reason: str) -> int:
    """Events not yet delivered are never sent; the reason is shown on each."""
    cause = f"Suppressed by {actor}: {reason}"
    with transaction.atomic():
        pending = queryset.filter(status=Status.PENDING) if ordering.enabled() else queryset.none()
        waited_on = list(pending.values_list("pk", flat=True))
        changed = moves.move(queryset, "suppress", cause, next_attempt_at=None)
        # The customers' next events no longer wait on the suppressed ones.
        ordering.wake_next(waited_on, timezone.now())
    return changed


def unsuppress(queryset: EventQuerySet, actor: str) -> int:
    """Suppressed events with an email (and something to send) return to pending and are
    queued; those still waiting for one go back to held; the others stay suppressed."""
    cause = f"Unsuppressed by {actor}."
    with transaction.atomic():
        known = _make_due(queryset.exclude(email=""), "unsuppress", cause, rule=None)
        unknown = moves.move(
            queryset.filter(email=""),
            "unsuppress_held",
            cause,
            status_reason=HELD_REASON,
            rule=None,
        )
    return known + unknown


def in_batches(
    operation: Callable[[EventQuerySet], int],
    queryset: EventQuerySet,
    size: int = 10_000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Apply ``operation`` over ``queryset`` in id ranges, reporting progress.

    For commands on very large selections: each batch is its own short
    transaction. Returns the total changed.
    """
    bounds = list(queryset.order_by("pk").values_list("pk", flat=True)[::size])
    total = queryset.count()
    done = changed = 0
    for index, start in enumerate(bounds):
        chunk = queryset.filter(pk__gte=start)
        if index + 1 < len(bounds):
            chunk = chunk.filter(pk__lt=bounds[index + 1])
        in_chunk = chunk.count()
        changed += operation(chunk)
        done += in_chunk
        if progress:
            progress(done, total)
    return changed
