"""Store Segment calls: validate, resolve identity, map, insert, and queue after commit.

This is the one write path: the HTTP endpoint and the Python API both call
``ingest``, which writes inside the caller's transaction when there is one.
What it decides from what it reads is read under a lock on each id the calls
name, in the transaction that writes (``lookup.read_locked``). A page (a browser
key) speaks for its own visitor only (``identity.Resolver``, ``vouching``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import cast

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from .. import conf, core, instruments, lifecycle
from ..core import JSON, JSONObject, SegAction, SegmentMessage
from ..exceptions import InvalidMessage
from ..lifecycle import HELD_REASON
from ..models import Event, Source, Status
from . import history, holds, locks, lookup, refusals, vouching
from .identity import Resolver
from .lookup import read_locked

logger = logging.getLogger(__name__)

# How often a write that lost a race (a messageId stored meanwhile, or a
# deadlock between two batches' locks) is tried again, outside a caller's transaction.
TRIES = 3


@dataclass
class Result:
    """What became of a request's messages."""

    stored: int = 0
    duplicates: int = 0
    refused: int = 0  # naming a suppressed customer (``refusals``): not stored
    errors: list[tuple[int, InvalidMessage]] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)


@dataclass
class _Batch:
    """The rows one request makes, built in memory before a single INSERT."""

    now: datetime
    resolver: Resolver
    source: str
    website: str = ""
    rows: list[Event] = field(default_factory=list)
    releases: list[holds.Release] = field(default_factory=list)
    alias_messages: dict[str, str] = field(default_factory=dict)
    unfinished: list[holds.Release] = field(default_factory=list)
    consent: tuple[str, ...] = field(default_factory=conf.consent_categories)

    def add(self, message: SegmentMessage, raw: JSONObject) -> None:
        resolver, kind = self.resolver, message["type"]
        sent_user, anonymous_id = message.get("userId"), message.get("anonymousId")
        signed = vouching.voucher(sent_user, raw) if self.source == Source.BROWSER else None
        # A backfill speaks as the shop's server: the shop's own history.
        server = self.source != Source.BROWSER or signed is not None
        scope = Source.SERVER if server else Source.BROWSER
        user_id = sent_user if server else None
        own, warnings = core.email_in(message), list[str]()
        if signed is not None and own is not None and own != signed.email:
            # A signature vouches for the email it was made with, and no other.
            warnings.append(vouching.UNSIGNED_EMAIL.format(email=own))
            own = None
        elif not server and own in resolver.server_emails:
            # A customer the shop's server knows: a page speaks for them only signed.
            warnings.append(vouching.KNOWN_EMAIL.format(email=own))
            own = None
        if kind == "identify":
            resolver.learn(user_id, anonymous_id, own, scope)
        if kind == "alias":
            # The alias's new email is its userId, as in the payload Seg gets.
            own = email = core.normalize_email(message.get("userId"))
        elif kind == "identify" and own:
            email = own  # an identify that names its email sends it, whatever aliases said
        elif own:
            email = resolver.current(own)
        else:
            email = resolver.email_for(user_id, anonymous_id, self.source, vouched=server)
        if kind == "alias":
            previous = core.normalize_email(message.get("previousId"))
            if previous and self.source == Source.BACKFILL:
                previous = history.movable(previous)  # None: live calls made it known
            if previous and own and previous != own:
                resolver.add_alias(previous, own, self.now)
                self.alias_messages[previous] = message["messageId"]
        # What Seg gets names a userId only where the server vouches for it.
        spoken = message if user_id == sent_user else _without_user_id(message)
        mapping = core.map_or_ignore(spoken, email, self.now)
        status, reason, rule = Status.PENDING, "", None
        seg_event = mapping.seg_event.value if mapping.seg_event else ""
        if mapping.action is None:
            status, reason = Status.IGNORED, mapping.reason
        elif withheld := core.withheld(raw, self.consent):
            status, reason = Status.WITHHELD, withheld
        elif rule := lifecycle.matching_rule(email or "", seg_event):
            status, reason = Status.SUPPRESSED, rule.cause
        elif email is None:
            status, reason = Status.HELD, HELD_REASON
        elif mapping.action is SegAction.UPDATE_CUSTOMER and (
            same := lookup.unchanged(email, mapping.payload or {}, self.now, self.website)
        ):
            status, reason = Status.UNCHANGED, same
        pending = status == Status.PENDING
        warnings += mapping.warnings
        if sent_user and user_id is None:
            warnings.append(vouching.UNVOUCHED.format(user_id=sent_user)[:500])
        self.rows.append(
            Event(
                message_id=message["messageId"],
                source=self.source,
                call_type=kind,
                name=(message.get("event") or message.get("name") or "")[:255],
                user_id=user_id or "",
                anonymous_id=anonymous_id or "",
                email=email or "",
                website=self.website,
                order_id=core.order_id(message),
                action=mapping.action.value if mapping.action else "",
                seg_event=seg_event,
                status=status,
                ingest_status=status,
                rule=rule,
                status_reason=reason[:500],
                message=raw,
                payload=mapping.payload,
                warnings=warnings,
                next_attempt_at=self.now if pending else None,
                enqueued_at=self.now if pending else None,
                timestamp=core.event_time(message, self.now),
                received_at=self.now,
                updated_at=self.now,
            )
        )
        if kind == "identify" and email:
            holds.release_in_batch(self.rows, self.resolver, self.source, self.now)
            self.releases.append(holds.Release(user_id, anonymous_id, scope))

    def release_stored(self) -> list[int]:
        """Release held rows stored by earlier requests; their ids in original order.

        Each identify releases at most SEG_RELEASE_BATCH rows here; the rest are
        noted in ``unfinished`` for ``release_rest``.
        """
        released: list[int] = []
        for release in self.releases:
            ids, done = holds.release_held(self.resolver, release, self.now)
            released += ids
            if not done:
                self.unfinished.append(release)
        return released


def _without_user_id(message: SegmentMessage) -> SegmentMessage:
    return cast(SegmentMessage, {k: v for k, v in message.items() if k != "userId"})


def ingest(
    raws: Sequence[JSON],
    call_type: str | None = None,
    shared: JSONObject | None = None,
    now: datetime | None = None,
    *,
    source: str = Source.SERVER,
    sent_at: str | None = None,
    via: str | None = None,
    website: str | None = None,
    lock: bool = False,
) -> Result:
    """Store each message, answer for each, and queue delivery after commit.

    ``call_type``: the type the endpoint implies (None for a batch, whose items
    name their own); ``source``: who sent them (``Source``); ``sent_at``: the
    batch's ``sentAt``, for messages that carry none (``clocks.event_time``);
    ``via``: the kind of key ``instruments`` counts (default: ``source``);
    ``website``: the Seg website they go to (``conf.website_for``; None:
    SEG_WEBSITE_ID); ``lock``: take the ids' locks even in the caller's transaction
    (one that holds none of the app's other locks). A bad message is reported in
    ``Result.errors`` by its index and never costs the good ones. A messageId already
    stored for the same source is a duplicate, not stored again. A message naming a
    suppressed customer is refused (``refusals``, ``Result.refused``) and nothing of it
    is stored. Database errors propagate: nothing is acknowledged that was not stored.
    """
    now = now or timezone.now()
    result = Result()
    valid: list[tuple[SegmentMessage, JSONObject]] = []
    for index, raw in enumerate(raws):
        raw = core.with_shared(raw, shared or {})
        try:
            message = core.validate(raw, call_type)
            if sent_at and "sentAt" not in message:
                message["sentAt"] = sent_at
            valid.append((message, raw))
        except InvalidMessage as error:
            result.errors.append((index, error))
    if not valid:
        return result
    # Inside the caller's transaction a failed INSERT would poison it, so a
    # possible repeat is skipped by the database; otherwise the plain INSERT
    # returns the new ids, and a lost race is tried again.
    in_caller = transaction.get_connection().in_atomic_block
    for attempt in range(TRIES):
        try:
            with transaction.atomic(savepoint=False):
                written = _write(valid, source, website, now, in_caller, attempt > 0, lock)
            break
        except (IntegrityError, OperationalError) as error:
            if in_caller or attempt + 1 == TRIES or not locks.lost_race(error):
                raise
    batch, result.duplicates, result.refused = written
    counted = [(row.call_type, row.status, row.status_reason) for row in batch.rows]
    transaction.on_commit(partial(instruments.received, counted, via or source))
    result.stored = len(batch.rows)
    result.message_ids = [row.message_id for row in batch.rows]
    return result


def _write(
    valid: list[tuple[SegmentMessage, JSONObject]],
    source: str,
    website: str | None,
    now: datetime,
    in_caller: bool,
    raced: bool,
    lock: bool = False,
) -> tuple[_Batch, int, int]:
    """Lock the calls' ids, read what is known, build and store the rows; call it in
    a transaction. ``skip``: let the database skip a repeated messageId silently.
    Returns the batch and the counts of duplicates and of calls refused."""
    # In the caller's transaction no lock is taken: the caller's own locks could
    # meet ours in a cycle. What it decided is settled once it commits instead.
    digests = refusals.digests_of(valid)
    hashes = {hashed for each in digests.values() for hashed in each}
    known = read_locked(source, valid, lock=lock or not in_caller, digests=hashes)
    valid, refused = refusals.admitted(valid, digests, known.suppressed)
    fresh = known.fresh(valid)
    batch = _Batch(now, known.resolver(), source, conf.website_for(website))
    for message, raw in fresh:
        batch.add(message, raw)
    if batch.rows:
        _store(batch, now, (in_caller or raced) and known.chosen)
    if in_caller and (unsettled := holds.to_settle(batch.rows, batch.releases)):
        transaction.on_commit(partial(holds.settle, unsettled))
    return batch, len(valid) - len(fresh), refused


def _store(batch: _Batch, now: datetime, skip_conflicts: bool) -> None:
    Event.objects.bulk_create(batch.rows, ignore_conflicts=skip_conflicts)
    released = batch.release_stored() if batch.releases else []
    batch.resolver.save(now, batch.alias_messages, keep=batch.source == Source.BACKFILL)
    for release in batch.unfinished:
        transaction.on_commit(
            partial(lifecycle.queue_release, release.user_id, release.anonymous_id, release.scope)
        )
    pending = [row for row in batch.rows if row.status == Status.PENDING]
    if not (pending or released):
        return
    if skip_conflicts:
        # The database skipped repeats silently, and gave back no ids.
        message_ids = [row.message_id for row in pending]
        transaction.on_commit(partial(_queue_stored, batch.source, message_ids, released))
    else:
        ids = [row.pk for row in pending]
        transaction.on_commit(partial(_queue, batch.source, ids, released))


def _queue(source: str, ids: list[int], released: list[int]) -> None:
    # Released events go out before the later ones of their customer by the
    # claim's rule of per-customer order, not by the order of the wake-ups.
    # Those may be of either source (the server's word releases a page's too),
    # so their queue is read from their rows; this request's own are ``source``'s,
    # and a wake-up of that source already waiting drains them (``lifecycle.wake``).
    if released:
        lifecycle.queue(released + ids, source=None)
    else:
        lifecycle.wake(source, lambda: ids)


def _queue_stored(source: str, message_ids: list[str], released: list[int]) -> None:
    def stored() -> list[int]:
        rows = Event.objects.filter(source=source, message_id__in=message_ids)
        return list(rows.filter(status=Status.PENDING).order_by("id").values_list("id", flat=True))

    if released:
        lifecycle.queue(released + stored(), source=None)
    else:
        lifecycle.wake(source, stored)
