"""The event lifecycle: which status moves are legal, who makes them, and the one place that does.

Every change of ``Event.status`` after the row is inserted goes through
``move`` or ``move_each`` (a worker's outcome through ``finishing.send_finish``):
one conditional UPDATE per statement, guarded by ``WHERE status IN (<the move's
sources>)`` (and by the lease token, which the caller's queryset carries, where a
worker holds one), so a race loses cleanly and changes nothing. Moves made by
people and by identity (retry, replay, suppress, release, expiry…) also write
their ``StatusChange`` history here, set-based; a worker's moves are recorded as
``Attempt`` rows instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import Event, EventQuerySet, Status, StatusChange
from .sendable import SENDABLE

HELD_REASON = "Waiting for an identify with an email for this visitor."


class Actor(StrEnum):
    """Who may cause a move."""

    IDENTIFY = "an identify that makes the visitor's email known"
    OPERATOR = "an operator (admin action or management command)"
    SWEEPER = "the sweeper"
    WORKER = "a delivery worker holding the event's lease"


@dataclass(frozen=True)
class Move:
    """A legal change of status: from any of ``sources`` to ``target``."""

    sources: frozenset[Status]
    target: Status
    actor: Actor
    # A StatusChange row for each event moved; a worker's moves are recorded
    # as Attempt rows instead, so they write none.
    history: bool = True


def _move(sources: set[Status], target: Status, actor: Actor, history: bool = True) -> Move:
    return Move(frozenset(sources), target, actor, history)


# Every move's name, as a type: a misspelt move is an error of mypy's, not a KeyError.
MoveName = Literal[
    "release",
    "release_suppressed",
    "expire",
    "retry",
    "replay",
    "suppress",
    "unsuppress",
    "unsuppress_held",
    "claim",
    "give_back",
    "deliver",
    "retry_later",
    "fail",
    "catch",
    "refuse",
]

MOVES: dict[MoveName, Move] = {
    "release": _move({Status.HELD}, Status.PENDING, Actor.IDENTIFY),
    "release_suppressed": _move({Status.HELD}, Status.SUPPRESSED, Actor.IDENTIFY),
    "expire": _move({Status.HELD}, Status.EXPIRED, Actor.SWEEPER),
    "retry": _move({Status.FAILED, Status.EXPIRED}, Status.PENDING, Actor.OPERATOR),
    "replay": _move({Status.DELIVERED}, Status.PENDING, Actor.OPERATOR),
    "suppress": _move(
        {Status.PENDING, Status.HELD, Status.FAILED, Status.EXPIRED},
        Status.SUPPRESSED,
        Actor.OPERATOR,
    ),
    "unsuppress": _move({Status.SUPPRESSED}, Status.PENDING, Actor.OPERATOR),
    "unsuppress_held": _move({Status.SUPPRESSED}, Status.HELD, Actor.OPERATOR),
    # A sending row whose lease lapsed is claimed again; the caller's queryset
    # asks that the row be due.
    "claim": _move({Status.PENDING, Status.SENDING}, Status.SENDING, Actor.WORKER, False),
    "give_back": _move({Status.SENDING}, Status.PENDING, Actor.WORKER, False),
    "deliver": _move({Status.SENDING}, Status.DELIVERED, Actor.WORKER, False),
    "retry_later": _move({Status.SENDING}, Status.PENDING, Actor.WORKER, False),
    "fail": _move({Status.SENDING}, Status.FAILED, Actor.WORKER, False),
    # A row a worker claims and finds caught by a rule made since it was stored.
    "catch": _move({Status.PENDING, Status.SENDING}, Status.SUPPRESSED, Actor.WORKER),
    # A row a worker claimed and found it cannot send (unsendable); never posted.
    "refuse": _move({Status.PENDING, Status.SENDING}, Status.FAILED, Actor.WORKER),
}


def move(
    queryset: EventQuerySet,
    name: MoveName,
    cause: str = "",
    *,
    now: datetime | None = None,
    **changes: Any,
) -> int:
    """Make move ``name`` on the rows of ``queryset`` that are in its sources; the count moved.

    One UPDATE, ``WHERE status IN (sources)``, sets ``status`` and
    ``updated_at`` with ``changes``; for a move with history, one INSERT …
    SELECT writes a StatusChange with ``cause`` for each row, in the same
    transaction. A move to pending takes only rows with an email, a payload
    and an action (SENDABLE); the others stay where they are. Raises KeyError
    for an unknown move.
    """
    spec = MOVES[name]
    now = now or timezone.now()
    target = queryset.filter(status__in=spec.sources)
    if spec.target is Status.PENDING:
        target = target.filter(SENDABLE)
    if not spec.history:
        return target.update(status=spec.target, updated_at=now, **changes)
    changes.setdefault("status_reason", cause[:500])
    with transaction.atomic():
        # History first: the selection may filter on the very status the
        # update changes. Only a worker claiming a pending row in between can
        # make the two differ, and then the history has one line too many.
        _record(target, now, spec.target, cause)
        return target.update(status=spec.target, updated_at=now, **changes)


def move_each(
    name: MoveName, rows: Sequence[tuple[int, dict[str, Any]]], cause: str, now: datetime
) -> list[int]:
    """Make move ``name`` on each (pk, changes), the changes differing by row.

    One conditional UPDATE a row, then one INSERT of the history of those that
    moved. A move to pending takes a row only if it has, once changed, an email,
    a payload and an action (as ``move``). Returns the pks moved, in the order
    given. Call it inside a transaction.
    """
    spec = MOVES[name]
    moved = [
        pk
        for pk, changes in rows
        if _guarded(spec, pk, changes).update(status=spec.target, updated_at=now, **changes)
    ]
    if spec.history:
        StatusChange.objects.bulk_create(
            StatusChange(event_id=pk, at=now, status=spec.target, cause=cause[:500]) for pk in moved
        )
    return moved


def _guarded(spec: Move, pk: int, changes: dict[str, Any]) -> EventQuerySet:
    """Row ``pk`` if ``spec`` may move it: in its sources and, for a move to pending,
    sendable once ``changes`` are made (a changed value is checked here, the rest in SQL)."""
    row = Event.objects.filter(pk=pk, status__in=spec.sources)
    if spec.target is not Status.PENDING:
        return row
    for field, blank in (("email", Q(email="")), ("action", Q(action=""))):
        if field in changes and not changes[field]:
            return row.none()
        if field not in changes:
            row = row.exclude(blank)
    if "payload" in changes:
        payload = changes["payload"]
        return row if isinstance(payload, dict) and payload.get("Email") else row.none()
    return row.filter(payload__isnull=False)


def changed_to_pending(first: bool = False) -> Subquery:
    """When the outer event was first (else last) made pending by a person or an identify
    (a release, retry, replay or unsuppress: the StatusChange rows those moves write; a
    worker's moves write none). NULL for an event never so moved."""
    changes = StatusChange.objects.filter(event=OuterRef("pk"), status=Status.PENDING)
    order = ("at", "id") if first else ("-at", "-id")
    return Subquery(changes.order_by(*order).values("at")[:1])


def due_since() -> Coalesce:
    """When the outer event last became due: the last move to pending a person or an
    identify made (``changed_to_pending``), else its receipt. Delivery time runs from
    here to Seg's 2xx, so the time an event was held for identity is not in it."""
    return Coalesce(changed_to_pending(), F("received_at"))


def mark_queued(ids: Sequence[int], now: datetime) -> int:
    """Note that a wake-up for these events was just queued (the sweeper leaves them alone)."""
    return Event.objects.filter(pk__in=list(ids)).update(enqueued_at=now)


def forget_wake_ups(ids: Sequence[int], now: datetime | None = None) -> int:
    """Mark events as having no live wake-up in the broker, so the next sweep queues them."""
    return Event.objects.filter(pk__in=list(ids)).update(
        enqueued_at=None, updated_at=now or timezone.now()
    )


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
