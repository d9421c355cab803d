"""What operators do to events: retry, replay, suppress, unsuppress.

Admin actions and management commands both call these. Each is set-based:
one INSERT ... SELECT records the status change on every row, and one
UPDATE makes it, whatever the selection's size; no row passes through Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from .models import EventQuerySet, Status, StatusChange

RETRYABLE = (Status.FAILED, Status.EXPIRED)
SUPPRESSIBLE = (Status.PENDING, Status.HELD, Status.FAILED, Status.EXPIRED)


def _record(target: EventQuerySet, now: datetime, status: str, cause: str) -> None:
    """Write one StatusChange per row of ``target``, in one statement."""
    select, params = target.order_by().values("pk").query.sql_with_params()
    table = connection.ops.quote_name(StatusChange._meta.db_table)
    pk = connection.ops.quote_name("pk")  # values("pk") names its column so
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (event_id, at, status, cause) "  # noqa: S608
            f"SELECT ids.{pk}, %s, %s, %s FROM ({select}) AS ids",
            (now, status, cause[:500], *params),
        )


def transition(
    queryset: EventQuerySet,
    allowed: Sequence[str],
    status: str,
    cause: str,
    **changes: object,
) -> int:
    """Move rows of ``queryset`` in ``allowed`` to ``status``; record ``cause`` on each."""
    now = timezone.now()
    target = queryset.filter(status__in=allowed)
    changes.setdefault("status_reason", cause[:500])
    with transaction.atomic():
        # History first: the selection may filter on the very status the
        # update changes. Only a worker claiming a pending row in between can
        # make the two differ, and then the row keeps its status and the
        # history has one line too many.
        _record(target, now, status, cause)
        return target.update(status=status, updated_at=now, **changes)


def _to_pending(queryset: EventQuerySet, allowed: Sequence[str], cause: str) -> int:
    """Make events deliverable now, with a fresh round of tries and retry window."""
    return transition(
        queryset,
        allowed,
        Status.PENDING,
        cause,
        next_attempt_at=timezone.now(),
        enqueued_at=None,
        first_attempt_at=None,
        tries=0,
        status_reason="",
    )


def retry(queryset: EventQuerySet, actor: str) -> int:
    """Failed and expired events go back to pending, due now; the count changed."""
    return _to_pending(queryset, RETRYABLE, f"Retried by {actor}.")


def replay(queryset: EventQuerySet, actor: str) -> int:
    """Delivered events are sent again (with the same Idempotency-Key)."""
    return _to_pending(queryset, (Status.DELIVERED,), f"Replayed by {actor}.")


def suppress(queryset: EventQuerySet, actor: str, reason: str) -> int:
    """Events not yet delivered are never sent; the reason is shown on each."""
    cause = f"Suppressed by {actor}: {reason}"
    return transition(
        queryset,
        SUPPRESSIBLE,
        Status.SUPPRESSED,
        cause,
        next_attempt_at=None,
        status_reason=cause[:500],
    )


def unsuppress(queryset: EventQuerySet, actor: str) -> int:
    """Suppressed events return to pending (held, while their email is unknown)."""
    suppressed = queryset.filter(status=Status.SUPPRESSED)
    cause = f"Unsuppressed by {actor}."
    known = transition(
        suppressed.exclude(email=""),
        (Status.SUPPRESSED,),
        Status.PENDING,
        cause,
        next_attempt_at=timezone.now(),
        enqueued_at=None,
        status_reason="",
        rule=None,
    )
    unknown = transition(
        suppressed.filter(email=""),
        (Status.SUPPRESSED,),
        Status.HELD,
        cause,
        status_reason="Waiting for an identify with an email for this visitor.",
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
