"""Deleting a customer's rows: stop what is live at once, then delete the rest in batches.

A worker that claims events while an erasure is under way checks each claim
just before its post (``lifecycle.erasing``); ``wait_for_claims`` first waits
out the claims made before the request began, which no worker checks. Then
``stop`` runs in one short transaction: it locks the customer's live events
(pending, held, or sending), deletes those no worker is posting, and revokes
the claims of those a worker holds (the lease token moves on, the lease is
cleared), so that nothing of theirs is claimed, released or posted after it
commits; a worker checks its claim just before each post (``delivery.loop``).
An attempt already on the wire is waited out (``wait_out``: its outcome is
stored, or no post can still be running), then its event is deleted. The rest
(delivered, failed, expired…) cannot be sent, and goes in batches of
SEG_ERASURE_BATCH rows, each its own transaction, through the ORM so that each
row's attempts, status history and any other row pointing at it go with it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from .. import conf
from ..ingest import Space, lock_many, write_lock
from ..models import Attempt, BackfillRun, Event, Status
from .graph import Customer

# How often ``wait_out`` looks for a revoked attempt's outcome.
POLL = 0.05
# Batches whose keys one query reads.
PASS = 100


@dataclass(frozen=True)
class Revoked:
    """A claim taken from a worker: the event, the attempt it was making, and the
    latest moment its post can still be running."""

    event_id: int
    number: int
    until: datetime


def stop(customer: Customer, now: datetime, counts: Counter[str]) -> list[Revoked]:
    """Make the customer's live events unsendable, in one transaction; the claims revoked.

    Takes ingest's locks on the customer's ids first (``ingest.locks``): a call of
    theirs being stored finishes first, and one stored later sees what committed
    before (a suppression made by the same request). Deleted rows are added to
    ``counts`` by model name.
    """
    deadline = timedelta(seconds=conf.post_deadline() + 2)
    with transaction.atomic():
        write_lock()
        lock_many(
            [
                (Space.ANONYMOUS_ID, customer.anonymous_ids),
                (Space.EMAIL, customer.emails),
                (Space.USER_ID, customer.user_ids),
            ]
        )
        live = list(
            customer.events()
            .filter(status__in=(Status.PENDING, Status.SENDING, Status.HELD))
            .select_for_update()
            .order_by("pk")
            .values_list("pk", "status", "attempts", "next_attempt_at")
        )
        posting = [
            (pk, number, lease)
            for pk, status, number, lease in live
            if status == Status.SENDING and lease is not None and lease > now
        ]
        revoked = [Revoked(pk, number, min(lease, now + deadline)) for pk, number, lease in posting]
        if revoked:
            Event.objects.filter(pk__in=[r.event_id for r in revoked]).update(
                attempts=F("attempts") + 1, next_attempt_at=None, enqueued_at=None
            )
        idle = [pk for pk, *_ in live if pk not in {r.event_id for r in revoked}]
        _delete(Event.objects.filter(pk__in=idle), counts)
    return revoked


def wait_for_claims(customer: Customer, clock: Callable[[], datetime] = timezone.now) -> None:
    """Return once no claim on the customer's events made before this call can still post:
    each has moved on (its outcome stored, or given back) or its lease has run out (at
    most SEG_LEASE). Call it after the request's record is committed."""
    now = clock()
    rows = customer.events().filter(status=Status.SENDING, next_attempt_at__gt=now)
    held: dict[int, tuple[int, datetime]] = {
        pk: (number, lease)
        for pk, number, lease in rows.values_list("pk", "attempts", "next_attempt_at")
        if lease is not None
    }
    while held:
        still = set(
            Event.objects.filter(pk__in=list(held), status=Status.SENDING).values_list(
                "pk", "attempts"
            )
        )
        now = clock()
        held = {
            pk: (n, lease) for pk, (n, lease) in held.items() if (pk, n) in still and lease > now
        }
        if held:
            time.sleep(POLL)


def wait_out(revoked: Collection[Revoked], clock: Callable[[], datetime] = timezone.now) -> None:
    """Return once no revoked attempt can still be posting: each has its outcome stored
    (its Attempt row), or has passed the time its post must have ended by (the claim's
    lease, at most SEG_POST_DEADLINE and a margin after it was revoked)."""
    waiting = list(revoked)
    while waiting:
        stored = set(
            Attempt.objects.filter(
                event_id__in=[r.event_id for r in waiting],
                number__in={r.number for r in waiting},
            ).values_list("event_id", "number")
        )
        now = clock()
        waiting = [r for r in waiting if (r.event_id, r.number) not in stored and r.until > now]
        if waiting:
            time.sleep(POLL)


def delete_events(customer: Customer, counts: Counter[str], keep: Collection[int] = ()) -> int:
    """Delete the customer's events but ``keep``, in batches; the events deleted."""
    return delete_rows(customer.events().exclude(pk__in=list(keep)), counts)


def delete_rows(queryset: models.QuerySet[Any], counts: Counter[str]) -> int:
    """Delete ``queryset`` in batches of SEG_ERASURE_BATCH, each its own transaction; the
    rows deleted. The keys are read a pass of PASS batches at a time (one query, not
    one a batch), until a pass finds none."""
    size: int = conf.get_setting("SEG_ERASURE_BATCH")
    rows = queryset.order_by("pk").values_list("pk", flat=True)
    total = 0
    while ids := list(rows[: size * PASS]):
        for start in range(0, len(ids), size):
            with transaction.atomic():
                chunk = queryset.model._default_manager.filter(pk__in=ids[start : start + size])
                total += _delete(chunk, counts)
    return total


def _delete(queryset: models.QuerySet[Any], counts: Counter[str]) -> int:
    """Delete through the ORM (cascades included), adding to ``counts`` by model name.
    Only keys are read: the rows' contents are not needed to delete them."""
    _, by_label = queryset.only("pk").delete()
    for label, deleted in by_label.items():
        if deleted:
            counts[label.rpartition(".")[2].lower()] += deleted
    return int(by_label.get(queryset.model._meta.label, 0))


def scrub_backfill_errors(customer: Customer, counts: Counter[str]) -> int:
    """Drop the backfill runs' kept errors that name one of the customer's userIds (an
    Oscar customer's ``where`` is ``customer <pk>``, and the pk is its userId); the
    entries dropped, counted as ``backfill errors``. Runs are few and keep a bounded
    list each, so they are read whole."""
    names = {f"customer {user_id}" for user_id in customer.user_ids}
    dropped = 0
    for run in BackfillRun.objects.exclude(errors=[]).only("pk", "errors") if names else ():
        kept = [error for error in run.errors if error.get("where") not in names]
        if len(kept) < len(run.errors):
            BackfillRun.objects.filter(pk=run.pk).update(errors=kept)
            dropped += len(run.errors) - len(kept)
    if dropped:
        counts["backfill errors"] += dropped
    return dropped
