"""The outbox sweeper and retention: periodic work over the events table.

Both cost what they touch, not the table's size: the sweeper reads the
partial index of due rows, retention deletes in small batches by the
partial indexes of deletable rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from .. import conf, lifecycle
from ..models import Event, EventQuerySet, Identity, LiveSince, Source, Status
from . import throttle

logger = logging.getLogger(__name__)


# Every end state, which retention deletes after SEG_RETENTION_DAYS; rows on
# their way are kept, but for a page's held rows with no email (UNVERIFIED).
PURGEABLE: tuple[Status, ...] = (Status.DELIVERED, Status.IGNORED, Status.FAILED)
PURGEABLE += (Status.EXPIRED, Status.SUPPRESSED, Status.WITHHELD, Status.UNCHANGED)
# A public key's events that never got an email, deleted after SEG_BROWSER_RETENTION.
UNSEEN = (Status.HELD, Status.EXPIRED, Status.IGNORED, Status.WITHHELD)
UNVERIFIED = Q(source=Source.BROWSER, status__in=UNSEEN, email="")


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
    customer is left to that event's outcome. The server's events are taken
    first, then pages' with what is left of SEG_SWEEP_BATCH, and published in
    that order, each to its own queue: a backlog from pages never fills a
    pass ahead of an order. A Seg website whose circuit is open gets one event
    a pass, to probe it; the other websites' events are queued as usual.
    """
    now = now or timezone.now()
    expired = expire_holds(now)
    cutoff = now - conf.get_setting("SEG_REQUEUE_AFTER")
    limit: int = conf.get_setting("SEG_SWEEP_BATCH")
    queued = waited = 0
    shut = shut_websites()
    with transaction.atomic():
        # While a website's circuit is open, one event a pass is enough to probe it.
        everywhere: tuple[str, ...] = ()
        out = tuple(w for group in shut for w in group)
        passes = [(source, everywhere, out) for source in Source]
        passes += [(source, group, everywhere) for group in shut for source in Source]
        probes: dict[tuple[str, ...], int] = {}
        for source, only, out in passes:
            room = 1 - probes.get(only, 0) if only else limit - queued - waited
            found = list(orphans(now, cutoff, room, source, only=only, out=out))
            if only:
                probes[only] = probes.get(only, 0) + len(found)
            # An event that waits on an earlier one of its customer is not queued
            # but marked all the same: that one's outcome queues it, and the sweep
            # looks at it again only SEG_REQUEUE_AFTER later, not every pass.
            waiting = lifecycle.waiting(found)
            ids = [pk for pk in found if pk not in waiting]
            if found:
                lifecycle.mark_queued(found, now)
            if ids:
                transaction.on_commit(partial(lifecycle.queue, ids, source=source))
            queued, waited = queued + len(ids), waited + len(waiting)
    if queued or waited or expired:
        logger.info(
            "Sweep: queued %d due event(s), %d left waiting on an earlier one, expired %d hold(s).",
            queued,
            waited,
            expired,
        )
    return Sweep(queued=queued, expired=expired)


def shut_websites() -> list[tuple[str, ...]]:
    """The websites whose circuit is open, each as the values its events' ``website`` may
    hold (SEG_WEBSITE_ID's: its id, and '')."""
    default = str(conf.get_setting("SEG_WEBSITE_ID") or "")
    found = throttle.open_websites(conf.all_websites() or ("",))
    return [(w, "") if w == default else (w,) for w in sorted(found)]


def orphans(
    now: datetime,
    cutoff: datetime,
    limit: int,
    source: str | None = None,
    *,
    only: Sequence[str] = (),
    out: Sequence[str] = (),
) -> QuerySet[Event, int]:
    """The ids a sweep takes (of ``source``, or of both; of the websites ``only`` when
    given, and none of the websites ``out``), oldest due first; run it inside a transaction.

    Sweeps that overlap (several beats, or a backlog of sweep tasks after a
    broker outage) take disjoint rows rather than each queue them all.
    """
    rows = Event.objects.orphaned(now, cutoff)
    if source:
        rows = rows.filter(source=source)
    if only:
        rows = rows.filter(website__in=only)
    if out:
        rows = rows.exclude(website__in=out)
    return (
        rows.select_for_update(skip_locked=True)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[: max(limit, 0)]
    )


def expire_holds(now: datetime) -> int:
    """End holds older than SEG_ANONYMOUS_HOLD: kept and shown, never sent."""
    hold: timedelta = conf.get_setting("SEG_ANONYMOUS_HOLD")
    stale = Event.objects.filter(status=Status.HELD, received_at__lt=now - hold)
    return lifecycle.move(stale, "expire", f"No email became known within {hold}.", now=now)


def purge(now: datetime | None = None, days: int | None = None) -> int:
    """Delete the events retention no longer keeps; the count deleted.

    Every event in an end state (delivered, ignored, failed, expired,
    suppressed) received more than SEG_RETENTION_DAYS (``days``) ago; and a
    page's events that never got an email (held, or expired), received more
    than SEG_BROWSER_RETENTION ago, still held or not. Pending, sending and
    the server's held events are kept. Works in batches of
    SEG_RETENTION_BATCH so no lock is held for long, each batch read by an
    index that holds only what it may find (``seg_event_status``, a seek of
    each end state by receipt; the partial ``seg_event_unverified_any``): it
    costs the rows deleted, not the table. Before a batch holding the server's events
    goes, when the shop's server first sent a live call is recorded (``LiveSince``), if
    it is not yet: asked of the batch's keys, so a shop whose server sends nothing never
    has the table searched for its oldest server event.
    """
    now = now or timezone.now()
    days = conf.get_setting("SEG_RETENTION_DAYS") if days is None else days
    browser: timedelta = conf.get_setting("SEG_BROWSER_RETENTION")
    unverified = _purge(deletable(now - browser, unverified=True), unverified=True)
    forget_anonymous(now - browser, now - timedelta(days=days))
    return unverified + _purge(deletable(now - timedelta(days=days)))


def forget_anonymous(claims_before: datetime, ties_before: datetime) -> int:
    """Delete anonymousIds retention no longer keeps: what pages claimed about their own
    visitors (``Identity`` rows of source browser: an unsigned identify's email) last
    said before ``claims_before``, and the server's word about an anonymousId last
    said before ``ties_before``; in batches, through ``seg_identity_anonymous_age``.
    Returns the rows deleted. A visitor whose row is gone is anonymous again until
    they are identified once more; what the server said about a userId is kept.
    """
    size, deleted = conf.get_setting("SEG_RETENTION_BATCH"), 0
    for source, before in ((Source.BROWSER, claims_before), (Source.SERVER, ties_before)):
        stale = Identity.objects.filter(
            kind=Identity.Kind.ANONYMOUS, source=source, updated_at__lt=before
        )
        while batch := list(stale.order_by("updated_at").values_list("pk", flat=True)[:size]):
            deleted += Identity.objects.filter(pk__in=batch, updated_at__lt=before).delete()[0]
    return deleted


def deletable(before: datetime, unverified: bool = False) -> QuerySet[Event, int]:
    """The ids of the events retention deletes that were received before ``before``: in an
    end state, or with ``unverified`` a page's that never got an email (held ones too).

    Written with constants, as the partial index's own condition, so that
    SQLite may use it as PostgreSQL does.
    """
    condition = _UNVERIFIED if unverified else _ENDED
    rows = Event.objects.filter(condition, received_at__lt=before).order_by("received_at")
    return rows.values_list("id", flat=True)


_ENDED = RawSQL(
    "status IN ('delivered', 'ignored', 'failed', 'expired', 'suppressed', 'withheld', "
    "'unchanged')",
    (),
    output_field=BooleanField(),
)
_UNVERIFIED = RawSQL(
    "source = 'browser' AND status IN ('held', 'expired', 'ignored', 'withheld') AND email = ''",
    (),
    output_field=BooleanField(),
)


def _purge(ids: QuerySet[Event, int], unverified: bool = False) -> int:
    size = conf.get_setting("SEG_RETENTION_BATCH")
    deleted = 0
    live = unverified or LiveSince.objects.exists()  # unverified: pages' events only
    while True:
        batch = list(ids[:size])
        if not batch:
            return deleted
        if not live and Event.objects.filter(pk__in=batch, source=Source.SERVER).exists():
            live = LiveSince.record() is not None  # recorded before the first of them goes
        deleted += delete_ended(Event.objects.filter(pk__in=batch), unverified)


def delete_ended(queryset: EventQuerySet, unverified: bool = False) -> int:
    """Delete the rows of ``queryset`` that retention may delete: those in an end state
    (PURGEABLE), or with ``unverified`` those a page sent that never got an email
    (UNVERIFIED, held ones included).

    The rows are locked as they are read, and only those still deletable are
    deleted: an identify releasing a held row meanwhile keeps it. Returns the
    events deleted; their attempts and history go with them.
    """
    deletable = Q(UNVERIFIED) if unverified else Q(status__in=PURGEABLE)
    with transaction.atomic():
        ids = list(queryset.filter(deletable).select_for_update().values_list("pk", flat=True))
        _, deleted = Event.objects.filter(deletable, pk__in=ids).delete()
    return deleted.get(Event._meta.label, 0)
