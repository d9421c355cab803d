"""Store Segment calls: validate, resolve identity, map, insert, and queue after commit.

This is the one write path. The HTTP endpoint and the Python API both call
``ingest``; it writes inside the caller's transaction when there is one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import dispatch, lifecycle, rules
from .exceptions import InvalidMessage
from .identity import Resolver
from .lifecycle import HELD_REASON
from .lookup import lookup
from .models import Event, Source, Status, SuppressionRule
from .payloads import Mapping, event_time, map_message, order_id, with_email
from .spec import email_in, normalize_email, validate, with_shared_context
from .wire import JSON, JSONObject, SegmentMessage

logger = logging.getLogger(__name__)


@dataclass
class Result:
    """What became of a request's messages."""

    stored: int = 0
    duplicates: int = 0
    errors: list[tuple[int, InvalidMessage]] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)


@dataclass
class _Batch:
    """The rows one request makes, built in memory before a single INSERT."""

    now: datetime
    resolver: Resolver
    source: str
    rows: list[Event] = field(default_factory=list)
    releases: list[tuple[str | None, str | None]] = field(default_factory=list)
    alias_messages: dict[str, str] = field(default_factory=dict)

    def add(self, message: SegmentMessage, raw: JSONObject) -> None:
        resolver, kind = self.resolver, message["type"]
        user_id, anonymous_id = message.get("userId"), message.get("anonymousId")
        own = email_in(message)
        if kind == "identify":
            resolver.learn(user_id, anonymous_id, own)
        if kind == "alias":
            # The alias's new email is its userId, as in the payload Seg gets.
            own = email = normalize_email(message.get("userId"))
        elif kind == "identify" and own:
            email = own  # an identify that names its email sends it, whatever aliases said
        elif own:
            email = resolver.current(own)
        else:
            email = resolver.email_for(user_id, anonymous_id)
        if kind == "alias":
            previous = normalize_email(message.get("previousId"))
            if previous and own and previous != own:
                resolver.add_alias(previous, own, self.now)
                self.alias_messages[previous] = message["messageId"]
        mapping = _mapped(message, email, self.now)
        status, reason, rule = Status.PENDING, "", None
        seg_event = mapping.seg_event.value if mapping.seg_event else ""
        if mapping.action is None:
            status, reason = Status.IGNORED, mapping.reason
        elif rule := rules.matching(email or "", seg_event):
            status, reason = Status.SUPPRESSED, rule.cause
        elif email is None:
            status, reason = Status.HELD, HELD_REASON
        pending = status == Status.PENDING
        self.rows.append(
            Event(
                message_id=message["messageId"],
                source=self.source,
                call_type=kind,
                name=(message.get("event") or message.get("name") or "")[:255],
                user_id=user_id or "",
                anonymous_id=anonymous_id or "",
                email=email or "",
                order_id=order_id(message),
                action=mapping.action.value if mapping.action else "",
                seg_event=seg_event,
                status=status,
                ingest_status=status,
                rule=rule,
                status_reason=reason[:500],
                message=raw,
                payload=mapping.payload,
                warnings=list(mapping.warnings),
                next_attempt_at=self.now if pending else None,
                enqueued_at=self.now if pending else None,
                timestamp=event_time(message, self.now),
                received_at=self.now,
                updated_at=self.now,
            )
        )
        if kind == "identify" and email:
            self._release_in_batch()
            self.releases.append((user_id, anonymous_id))

    def _release_in_batch(self) -> None:
        """Give this batch's earlier held rows the email an identify just made known."""
        for row in self.rows:
            if row.status != Status.HELD or row.payload is None:
                continue
            email = self.resolver.email_for(row.user_id or None, row.anonymous_id or None)
            if not email:
                continue
            row.email, row.payload = email, with_email(row.payload, email)
            row.ingest_status = row.status = Status.PENDING
            row.status_reason = ""
            row.next_attempt_at = row.enqueued_at = self.now
            if rule := rules.matching(email, row.seg_event):
                row.ingest_status = row.status = Status.SUPPRESSED
                row.rule, row.status_reason = rule, rule.cause
                row.next_attempt_at = row.enqueued_at = None

    def release_stored(self) -> list[int]:
        """Release held rows stored by earlier requests; their ids in original order."""
        released: list[int] = []
        for user_id, anonymous_id in self.releases:
            anonymous_ids = self.resolver.anonymous_ids_of(user_id) if user_id else []
            if anonymous_id:
                anonymous_ids.append(anonymous_id)
            # Every row matched belongs to this visitor, so the identify's email is theirs.
            email = self.resolver.email_for(user_id, anonymous_id)
            if not email:
                continue
            held = Event.objects.held_for(user_id, anonymous_ids).order_by("timestamp", "id")
            due: list[tuple[int, dict[str, object]]] = []
            caught: dict[SuppressionRule, list[tuple[int, dict[str, object]]]] = {}
            for row in held.only("id", "payload", "seg_event"):
                if row.payload is None:
                    continue
                changes: dict[str, object] = {
                    "email": email,
                    "payload": with_email(row.payload, email),
                }
                if rule := rules.matching(email, row.seg_event):
                    caught.setdefault(rule, []).append(
                        (row.pk, changes | {"rule": rule, "next_attempt_at": None})
                    )
                else:
                    now = self.now
                    due.append((row.pk, changes | {"next_attempt_at": now, "enqueued_at": now}))
            cause = f"Released: an identify made {email} known."
            released += lifecycle.move_each(
                "release", [(pk, c | {"status_reason": ""}) for pk, c in due], cause, self.now
            )
            for rule, rows in caught.items():
                lifecycle.move_each(
                    "release_suppressed",
                    [(pk, c | {"status_reason": rule.cause[:500]}) for pk, c in rows],
                    rule.cause,
                    self.now,
                )
        return released


def _mapped(message: SegmentMessage, email: str | None, now: datetime) -> Mapping:
    """``map_message``, or, should it ever raise, an ignored event that says why.

    A message that passed validation is stored whatever its values: a mapping
    error is kept and shown on the event, never a 500 that costs the batch.
    """
    try:
        return map_message(message, email, now)
    except Exception as error:
        logger.exception("Could not map message %s; stored as ignored.", message["messageId"])
        reason = f"Could not be mapped ({type(error).__name__}: {error}); kept as sent."
        return Mapping(None, None, None, reason=reason[:500])


def ingest(
    raws: Sequence[JSON],
    call_type: str | None = None,
    shared_context: JSONObject | None = None,
    now: datetime | None = None,
    *,
    source: str = Source.SERVER,
    _raced: bool = False,
) -> Result:
    """Store each message, answer for each, and queue delivery after commit.

    ``call_type`` is the type the endpoint implies (None for a batch, whose
    items name their own). A bad message is reported in ``Result.errors`` by
    its index and never costs the good ones. A repeated messageId is counted
    as a duplicate and not stored again. Database errors propagate: nothing is
    acknowledged that was not stored.
    """
    now = now or timezone.now()
    result = Result()
    valid: list[tuple[SegmentMessage, JSONObject]] = []
    for index, raw in enumerate(raws):
        raw = with_shared_context(raw, shared_context or {})
        try:
            valid.append((validate(raw, call_type), raw))
        except InvalidMessage as error:
            result.errors.append((index, error))
    if not valid:
        return result
    # Only ids the shop chose can repeat; ids made here are fresh UUIDs.
    chosen = [m["messageId"] for m, raw in valid if raw.get("messageId") not in (None, "")]
    # A message that carries its own email needs no identity lookup, unless
    # it is an identify, which changes what is known.
    needing = [m for m, _ in valid if m["type"] == "identify" or email_in(m) is None]
    users = {m["userId"] for m in needing if "userId" in m}
    emails = {e for m, _ in valid if (e := email_in(m)) is not None}
    known = lookup(
        source, chosen, users, {m["anonymousId"] for m in needing if "anonymousId" in m}, emails
    )
    fresh = _without_duplicates(valid, known.message_ids)
    result.duplicates = len(valid) - len(fresh)
    if not fresh:
        return result
    batch = _Batch(now, Resolver.from_known(known.identities, known.aliases, emails, users), source)
    for message, raw in fresh:
        batch.add(message, raw)
    # Inside the caller's transaction a failed INSERT would poison it, so a
    # possible repeat is skipped by the database; otherwise the plain INSERT
    # returns the new ids, and a race with another request is retried once.
    in_caller = transaction.get_connection().in_atomic_block
    skip_conflicts = bool(chosen) and (in_caller or _raced)
    try:
        _store(batch, now, skip_conflicts)
    except IntegrityError:
        if skip_conflicts or in_caller:
            raise
        return ingest(raws, call_type, shared_context, now, source=source, _raced=True)
    result.stored = len(batch.rows)
    result.message_ids = [row.message_id for row in batch.rows]
    return result


def _store(batch: _Batch, now: datetime, skip_conflicts: bool) -> None:
    with transaction.atomic(savepoint=False):
        Event.objects.bulk_create(batch.rows, ignore_conflicts=skip_conflicts)
        released = batch.release_stored() if batch.releases else []
        batch.resolver.save(now, batch.alias_messages)
        pending = [row for row in batch.rows if row.status == Status.PENDING]
        if not (pending or released):
            return
        if skip_conflicts:
            # The database skipped repeats silently, and gave back no ids.
            message_ids = [row.message_id for row in pending]
            transaction.on_commit(partial(_queue_stored, batch.source, message_ids, released))
        else:
            ids = [row.pk for row in pending]
            transaction.on_commit(partial(_queue, ids, released))


def _without_duplicates(
    valid: list[tuple[SegmentMessage, JSONObject]], stored: set[str]
) -> list[tuple[SegmentMessage, JSONObject]]:
    """Drop messages whose messageId was stored before, or came earlier in this batch.

    A race between two requests is settled by the unique constraint on insert.
    """
    seen = set(stored)
    kept = []
    for message, raw in valid:
        if message["messageId"] in seen:
            continue
        seen.add(message["messageId"])
        kept.append((message, raw))
    return kept


def _queue(ids: list[int], released: list[int]) -> None:
    # Released events go out before the later ones of their customer by the
    # claim's rule of per-customer order, not by the order of the wake-ups.
    dispatch.queue(released + ids)


def _queue_stored(source: str, message_ids: list[str], released: list[int]) -> None:
    ids = list(
        Event.objects.filter(source=source, message_id__in=message_ids, status=Status.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )
    _queue(ids, released)
