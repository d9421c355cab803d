"""Delivery order per customer: an event waits while an earlier one for its email is outstanding.

"Earlier" is by the shop's ``timestamp``, then by receipt (the row's id, which
the database hands out as rows are stored). "Outstanding" is pending or
sending: a delivered, failed, suppressed, ignored, held or expired event
blocks nothing. A page's event (a public key's, which may name any email)
never holds back one of the shop's server's: an order waits only on the
server's earlier events of its customer, a page's event on every earlier
one. A backfill's event (the shop's history) waits on the server's and on
the backfill's own earlier ones, and holds back no live event: the history
is in order within itself. The rule lives in the claim's query
(``first_in_line``), so it holds whatever the workers, the wake-ups or the
sweeper do; the wake-ups here only make it prompt. ``SEG_ORDER_PER_CUSTOMER``
(default on) turns it off. A customer is an email at one Seg website: the same
email in two stores is two customers at Seg, each in a line of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.db.models import BooleanField, Exists, F, OuterRef, Q, Subquery, Window
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import RowNumber

from .. import conf
from ..models import Event, EventQuerySet, Source
from . import moves, wakeups

# Outstanding, written as the partial index seg_event_in_line's own condition:
# SQLite uses a partial index only for a condition spelled out with the same
# constants, not bound parameters (PostgreSQL uses it either way).
_OUTSTANDING = RawSQL("status IN ('pending', 'sending')", (), output_field=BooleanField())
# The same, of the server's events only: seg_event_in_line's condition, and the source.
_SERVER_OUTSTANDING = RawSQL(
    "status IN ('pending', 'sending') AND source = 'server'", (), output_field=BooleanField()
)

# Ids one wake-up query names at most: bounded well under SQLite's limit
# of bound parameters.
_CHUNK = 500


def enabled() -> bool:
    """Whether SEG_ORDER_PER_CUSTOMER is on."""
    return bool(conf.get_setting("SEG_ORDER_PER_CUSTOMER"))


def ahead(email: str = "email", besides: Sequence[int] = (), stuck: datetime | None = None) -> Q:
    """True for a row (the outer query's) that has an earlier outstanding event for ``email``
    that holds it back: for a server's event, one of the server's; for a page's, any;
    for a backfill's, one of the server's or the backfill's.

    ``email`` names the outer row's column (or alias) to look up; the events
    ``besides`` do not count. One probe of a partial index, which stops at
    the first row found: ``seg_event_in_line`` (every outstanding row by
    email, timestamp, id), for a server's event passing over pages' rows of
    its line. A row without an
    email has no customer to keep in order, and nothing is ahead of it. With ``stuck``,
    only earlier events not due at that moment count (being sent, or retried later):
    those no claim made then can take with the row.
    """

    def earlier(outstanding: RawSQL) -> EventQuerySet:
        rows = _earlier(outstanding, email, besides)
        return rows if stuck is None else rows.filter(next_attempt_at__gt=stuck)

    server = Exists(earlier(_SERVER_OUTSTANDING))
    every = Exists(earlier(_OUTSTANDING))
    backfill = Exists(earlier(_OUTSTANDING).filter(source=Source.BACKFILL))
    return (
        Q(server)
        | Q(Q(source=Source.BROWSER) & Q(every))
        | Q(Q(source=Source.BACKFILL) & Q(backfill))
    )


def _earlier(outstanding: RawSQL, email: str, besides: Sequence[int]) -> EventQuerySet:
    """The ``outstanding`` rows of the outer row's line for ``email`` that come before it."""
    # (timestamp, id) < the row's, written so that the index seeks to the
    # line's part up to the row's timestamp: the first in a long line scans
    # only its own, not the whole line behind it.
    earlier = Q(timestamp__lt=OuterRef("timestamp")) | Q(pk__lt=OuterRef("pk"))
    line = Event.objects.filter(outstanding, email=OuterRef(email), website=OuterRef("website"))
    line = line.filter(earlier, timestamp__lte=OuterRef("timestamp")).exclude(email="")
    return line.exclude(pk__in=list(besides)) if besides else line


def _waiting(queryset: EventQuerySet, besides: Sequence[int] = ()) -> tuple[EventQuerySet, Q]:
    """``queryset`` ready to be asked about its lines, and the question: is anything ahead?

    An alias belongs to two lines: its new email's (its own) and its previous
    email's (``PreviousEmail`` in its payload), so it goes out after the
    customer's earlier events under the old email, and the events under the
    new email, later than it, after it.
    """
    marked = queryset.alias(previous_email=KT("payload__PreviousEmail"))
    return marked, ahead("email", besides) | ahead("previous_email", besides)


def first_in_line(queryset: EventQuerySet, besides: Sequence[int] = ()) -> EventQuerySet:
    """The rows of ``queryset`` that no earlier outstanding event of their customer holds back,
    the events ``besides`` apart."""
    marked, held_back = _waiting(queryset, besides)
    return marked.exclude(held_back)


def blocked(queryset: EventQuerySet) -> EventQuerySet:
    """The rows of ``queryset`` that an earlier outstanding event of their customer holds back."""
    marked, held_back = _waiting(queryset)
    return marked.filter(held_back)


def lines(event: Event) -> set[str]:
    """The customers' lines ``event`` stands in: its email's, and an alias's previous email's,
    each at its website (``website`` and the email, a newline between them)."""
    previous = event.payload.get("PreviousEmail") if isinstance(event.payload, dict) else None
    emails = (event.email, previous)
    return {f"{event.website}\n{line}" for line in emails if line and isinstance(line, str)}


def in_line(events: Sequence[Event]) -> list[Event]:
    """Of ``events`` (due, and locked by the caller's claim), those that may be posted now, in
    the order to post them (the shop's timestamp, then receipt).

    The claim's own rule, so it holds whatever the wake-ups do: an event goes
    when every earlier outstanding event of its customer is among ``events``
    and goes before it, so one claim takes a customer's run of events (the
    poster stops the run at the first that will be retried). One query: the
    lines' probes, with ``events`` themselves not counted.
    """
    ids = [event.pk for event in events]
    aliases = any(len(lines(event)) > 1 for event in events)
    sql, template = _clear_sql(len(ids), aliases, connection.vendor)
    # The ids take the places of their marks (-1 for the first…); the rest are constants.
    params = [ids[-value - 1] if type(value) is int and value < 0 else value for value in template]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        clear = {pk for (pk,) in cursor.fetchall()}
    stopped: set[str] = set()
    taken: list[Event] = []
    for event in sorted(events, key=lambda event: (event.timestamp, event.pk)):
        if event.pk in clear and not lines(event) & stopped:
            taken.append(event)
        else:
            stopped |= lines(event)
    return taken


@functools.lru_cache(maxsize=256)
def _clear_sql(count: int, aliases: bool, vendor: str) -> tuple[str, tuple[Any, ...]]:
    """``in_line``'s query for ``count`` ids, compiled by the ORM once per shape and
    database: the ids of events no earlier outstanding one of their line holds back, the
    events themselves apart. Its parameters hold -1…-count where the ids go. Without an
    alias among the events, only their own email's line is probed (the previous email's
    probe finds nothing for an event without one)."""
    marks = [-(place + 1) for place in range(count)]
    events = Event.objects.filter(pk__in=marks)
    if aliases:
        events = first_in_line(events, besides=marks)
    else:
        events = events.exclude(ahead("email", marks))
    sql, params = events.values_list("pk", flat=True).query.sql_with_params()
    return sql, tuple(params)


def heads(event_ids: Sequence[int], now: datetime) -> list[int]:
    """For the customer of each of ``event_ids``, the runs of outstanding events that may go
    next, one of the server's events and one of pages': each its first, if due now, and
    the due ones right behind it, up to a task's worth a run (``wakeups.batch_size``), in
    the order to post them.

    The run stops at the first event not due: one being sent needs no
    wake-up (unless its lease lapsed), one retrying later has its own, and
    those behind it wait for it. Queued together, a run is mostly one
    claim's work (``in_line``), not a task for each event; one that straddles
    two tasks' ids waits for the next wake-up for its second part. One query
    per 500 ids finds each line's first row (a seek of ``seg_event_in_line``);
    then one query numbers the outstanding rows of the lines whose first is
    due, which reads each such line whole: a long backlog costs its length.
    """
    firsts: set[tuple[str, str]] = set()
    same = {"email": OuterRef("email"), "website": OuterRef("website")}
    line = Event.objects.filter(_OUTSTANDING, **same)
    server_line = Event.objects.filter(_SERVER_OUTSTANDING, **same)
    first = line.order_by("timestamp", "pk").values("next_attempt_at")[:1]
    first_server = server_line.order_by("timestamp", "pk").values("next_attempt_at")[:1]
    for start in range(0, len(event_ids), _CHUNK):
        chunk = list(event_ids[start : start + _CHUNK])
        # The first row's due time, a seek of its line: asked as "pk IN (heads)
        # AND pending", a planner short of statistics scans every pending row.
        leaders = (
            Event.objects.filter(pk__in=chunk)
            .exclude(email="")
            .order_by()
            .annotate(first_due=Subquery(first), server_due=Subquery(first_server))
            .values_list("website", "email", "first_due", "server_due")
        )
        firsts.update((w, e) for w, e, *dues in leaders if any(d and d <= now for d in dues))
    runs = {str(source): wakeups.batch_size(source) for source in Source}  # a task's worth
    found: list[int] = []
    emails = sorted({email for _, email in firsts})
    for start in range(0, len(emails), _CHUNK):
        # A line's server's events and pages' events are two runs: the
        # server's wait on none of the pages'.
        parts = [F("website"), F("email"), F("source")]
        place = Window(RowNumber(), partition_by=parts, order_by=[F("timestamp"), F("pk")])
        rows = (
            Event.objects.filter(_OUTSTANDING, email__in=emails[start : start + _CHUNK])
            .annotate(place=place)
            .filter(place__lte=max(runs.values()))
            .order_by("website", "email", "source", "place")
            .values_list("website", "email", "source", "pk", "next_attempt_at")
        )
        stopped: set[tuple[str, str, str]] = set()
        counted: dict[tuple[str, str, str], int] = {}
        for website, email, source, pk, due in rows:
            if (website, email) not in firsts:
                continue  # the same email at another website: a line of its own
            taken = counted[website, email, source] = counted.get((website, email, source), 0) + 1
            if (website, email, source) in stopped or due is None or due > now:
                stopped.add((website, email, source))
            elif taken <= runs[source]:
                found.append(pk)
    return found


def wake_next(event_ids: Sequence[int], now: datetime) -> list[int]:
    """Queue, once the caller's transaction commits, the next due run of each one's customer
    (``heads``).

    For events that just stopped being outstanding (delivered, failed,
    suppressed): the event that waited on one of them need not wait for the
    next sweep. Call it after the moves are made: inside a transaction the
    wake-ups leave when it commits, outside one at once. The rows are marked
    as queued first, so a publish that fails leaves them to the sweeper.
    Returns the ids queued; nothing when SEG_ORDER_PER_CUSTOMER is off.
    """
    if not event_ids or not enabled():
        return []
    ids = heads(event_ids, now)
    if ids:
        moves.mark_queued(ids, now)
        transaction.on_commit(partial(wakeups.queue, ids))
    return ids


def waiting(event_ids: Sequence[int]) -> set[int]:
    """The ids among ``event_ids`` of events an earlier outstanding one of their customer holds
    back; empty when SEG_ORDER_PER_CUSTOMER is off."""
    if not event_ids or not enabled():
        return set()
    return set(blocked(Event.objects.filter(pk__in=list(event_ids))).values_list("pk", flat=True))
