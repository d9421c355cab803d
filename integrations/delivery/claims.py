"""Claiming due events for one attempt each: lock, check, lease.

A worker's claim locks the due rows it names (and, draining, other due rows
of their source), refuses what can never be sent, suppresses what an enabled
rule catches, keeps each customer's line in order, and leases the rest: the
attempt number is the lease token every later write of the worker carries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce

from .. import conf, lifecycle
from ..lifecycle import NOT_SENT, unsendable
from ..models import Event, EventQuerySet, SuppressionRule
from .outbox import shut_websites

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one event for one attempt."""

    number: int  # the attempt's number, and the lease token
    tries: int  # attempts this round, for the retry policy
    event: Event = field(compare=False, repr=False)  # what to send
    # When it last became due (``lifecycle.due_since``): the delivery time's start.
    due_since: datetime | None = field(default=None, compare=False, repr=False)


CLAIMED_FIELDS: tuple[str, ...] = ("attempts", "tries", "action", "payload", "message_id")
CLAIMED_FIELDS += ("first_attempt_at", "email", "timestamp", "source", "seg_event", "website")
CLAIMED_FIELDS += ("received_at",)  # receipt to delivery (instruments)


def claim_many(
    event_ids: Sequence[int], now: datetime, more: int = 0, source: str | None = None
) -> list[Claim]:
    """Take the due, unclaimed events among ``event_ids`` for one attempt each.

    The rows are locked as they are read (rows another worker is claiming are
    skipped), then leased. ``more``: besides those, up to that many other due
    rows of the same source, the longest due first (a seek of the partial
    index ``seg_event_due``), so that a task drains what committed since its
    wake-up was queued rather than leave each row to a task of its own; the
    source is the claimed rows', else ``source`` (the task's queue's: its own
    rows may be gone, erased), else that of ``event_ids``' rows. With
    SEG_ORDER_PER_CUSTOMER, only events with none of their customer's
    outstanding ahead but this claim's are taken, in the order to post them
    (``lifecycle.in_line``); those left keep their wake-up mark: the outcome
    of the event they wait on queues them.
    """
    shut = _shut() if more > 0 else []  # read before any row is locked
    with transaction.atomic():
        events = list(
            Event.objects.filter(pk__in=list(event_ids))
            .due(now)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .only(*CLAIMED_FIELDS)
            .annotate(due_since=lifecycle.due_since())
        )
        if more > 0 and (source := _source(events, event_ids, source)):
            more = min(more, lifecycle.batch_size(source) - len(events))
            events += _drain(source, event_ids, now, more, shut) if more > 0 else []
        events = _refuse_unsendable(events, now)
        events = _suppress_caught(events, now)
        if events and lifecycle.in_order():
            events = lifecycle.in_line(events)
        if events:
            lifecycle.move(
                Event.objects.filter(pk__in=[event.pk for event in events]),
                "claim",
                now=now,
                attempts=F("attempts") + 1,
                tries=F("tries") + 1,
                next_attempt_at=now + conf.get_setting("SEG_LEASE"),
                enqueued_at=None,
                first_attempt_at=Coalesce(F("first_attempt_at"), now),
            )
    claims = []
    for event in events:
        event.attempts += 1
        event.tries += 1
        event.first_attempt_at = event.first_attempt_at or now
        claims.append(Claim(event.attempts, event.tries, event, getattr(event, "due_since", None)))
    return claims


def _source(events: list[Event], event_ids: Sequence[int], queued: str | None) -> str | None:
    """The source of a task's events (one, as ``lifecycle.queue`` publishes them): ``queued``
    or read from the rows when none of them was claimed."""
    if events:
        return events[0].source
    if queued:
        return queued
    return Event.objects.filter(pk__in=list(event_ids)).values_list("source", flat=True).first()


def _shut() -> list[str]:
    """The ``website`` values of the events of websites whose circuit is open, when there
    are several websites (one Redis round trip); none with one."""
    if len(conf.all_websites()) < 2:
        return []
    return [value for values in shut_websites() for value in values]


def _drainable(source: str, now: datetime, shut: Sequence[str] | None = None) -> EventQuerySet:
    """Due rows of ``source`` a drain may take, the longest due first: with several
    websites, none of one whose circuit is open (``shut``, read before the claim locks
    rows; else read here); with
    SEG_ORDER_PER_CUSTOMER, not those an earlier event of their customer that is not due
    holds back (being sent, or retried later: its outcome queues them), which would fill
    a drain that then posts nothing. Those behind due ones come, and the claim's
    ``in_line`` puts each customer's run in order."""
    rows = Event.objects.due(now).filter(source=source)
    shut = _shut() if shut is None else shut
    if shut:
        # Another store's open circuit keeps its backlog out of this drain: the sweep's
        # probe tests it, and this task's posts go to the websites that answer.
        rows = rows.exclude(website__in=list(shut))
    if lifecycle.in_order():
        rows = rows.exclude(lifecycle.ahead("email", stuck=now))
    return rows.order_by("next_attempt_at")


def due_ids(source: str, now: datetime, limit: int) -> list[int]:
    """The ids of up to ``limit`` rows a drain of ``source`` may take now (no lock)."""
    return list(_drainable(source, now).values_list("pk", flat=True)[:limit])


def _drain(
    source: str, besides: Sequence[int], now: datetime, more: int, shut: Sequence[str]
) -> list[Event]:
    """Up to ``more`` other rows a drain of ``source`` may take, locked (rows being claimed
    are skipped), the longest due first. Inside the claim."""
    rows = _drainable(source, now, shut).exclude(pk__in=list(besides))
    rows = rows.select_for_update(skip_locked=True).only(*CLAIMED_FIELDS)
    return list(rows.annotate(due_since=lifecycle.due_since())[:more])


def _refuse_unsendable(events: list[Event], now: datetime) -> list[Event]:
    """The events that can be sent; the others (no email, nothing to send: no move should
    have made them due) are failed with the reason, never posted. Inside the claim."""
    refused: dict[str, list[int]] = {}
    for event in events:
        if reason := unsendable(event.email, event.payload, event.action):
            refused.setdefault(reason, []).append(event.pk)
    for reason, ids in refused.items():
        logger.error("Events %s not sent to Seg: %s.", ids, reason)
        cause = NOT_SENT.format(reason)
        lifecycle.move(
            Event.objects.filter(pk__in=ids),
            "refuse",
            cause,
            now=now,
            next_attempt_at=None,
            enqueued_at=None,
        )
        lifecycle.wake_next(ids, now)  # the customer's next events no longer wait on them
    gone = {pk for ids in refused.values() for pk in ids}
    return [event for event in events if event.pk not in gone]


def _suppress_caught(events: list[Event], now: datetime) -> list[Event]:
    """The events no enabled suppression rule catches; the others are suppressed, never
    posted. Inside the claim, with the rules read now: a rule made after an event was
    stored (or while ingest read a cached list) still keeps it from Seg."""
    caught: dict[SuppressionRule, list[int]] = {}
    enabled = lifecycle.active_rules(fresh=True) if events else []  # one small query a claim
    for event in events:
        if rule := next((r for r in enabled if r.matches(event.email, event.seg_event)), None):
            caught.setdefault(rule, []).append(event.pk)
    for rule, ids in caught.items():
        lifecycle.move(
            Event.objects.filter(pk__in=ids),
            "catch",
            rule.cause,
            now=now,
            rule=rule,
            next_attempt_at=None,
            enqueued_at=None,
        )
        lifecycle.wake_next(ids, now)
    gone = {pk for ids in caught.values() for pk in ids}
    return [event for event in events if event.pk not in gone]


def claim(event_id: int, now: datetime) -> Claim | None:
    """One event taken for one attempt, or None (claimed elsewhere, not due, or done)."""
    return next(iter(claim_many([event_id], now)), None)
