"""The event lifecycle: which status moves are legal, who makes them, and the one place that does.

Every change of ``Event.status`` after the row is inserted goes through
``move`` or ``move_each``: one conditional UPDATE per statement, guarded by
``WHERE status IN (<the move's sources>)`` (and by the lease token, which the
caller's queryset carries, where a worker holds one), so a race loses cleanly
and changes nothing. Moves made by people and by identity (retry, replay,
suppress, release, expiry…) also write their ``StatusChange`` history here,
set-based; a worker's moves are recorded as ``Attempt`` rows instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Field, Q
from django.utils import timezone

from . import pgwire
from .models import Attempt, Event, EventQuerySet, Status, StatusChange
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


MOVES: dict[str, Move] = {
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
    name: str,
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
    name: str, rows: Sequence[tuple[int, dict[str, Any]]], cause: str, now: datetime
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


class Finishing:
    """A ``send_finish`` on its way; ``moved()`` waits for it and says whether the event moved."""

    def __init__(self, read: Callable[[], bool]) -> None:
        self._read: Callable[[], bool] | None = read
        self._moved = False

    def moved(self) -> bool:
        """Whether the event moved; the first call reads the database's answer (raising
        its error), later ones repeat it."""
        if self._read is not None:
            read, self._read = self._read, None
            self._moved = read()
        return self._moved


def send_finish(
    attempt: Attempt, name: str, now: datetime, again: bool = False, **changes: Any
) -> Finishing:
    """Store a worker's attempt and make its move ``name``, if the worker still holds the event;
    on PostgreSQL, outside a transaction, sent and not waited for.

    ``again``: a second try after the first was lost with its connection, which
    may have run all the same; the attempt is then stored only if it is not
    there yet (the move, from ``sending``, cannot be made twice either).

    The move is conditional on the lease token (the event at
    ``attempt.number``) and on the move's sources; the attempt is stored
    whether or not the move is made (a late finish is kept, never applied).
    ``moved()`` says whether the event moved. Raises KeyError for an unknown
    move.

    On PostgreSQL outside a transaction it is one statement, its own transaction, committed without
    waiting for the WAL flush (``synchronous_commit`` off for it alone). It
    has left this process when this returns, and the server runs a statement
    it has received even if the worker is killed at once, so a worker may
    post its next event while it runs. The caller must call ``moved()``
    before it uses the database connection again. The commit is visible to
    every session at once: whoever claims the event next sees the outcome.
    Only a crash of the database server or its machine can lose such commits
    (at most the last three ``wal_writer_delay``, 600 ms by default), and
    then those events are sent again, never lost.

    Elsewhere it is done before this returns: inside the caller's
    transaction, the same statement, part of that transaction; on other
    databases, one transaction of two statements.
    """
    spec = MOVES[name]
    checked_here = connection.vendor != "postgresql" or connection.in_atomic_block
    there = Attempt.objects.filter(event_id=attempt.event_id, number=attempt.number)
    if again and checked_here and there.exists():
        return Finishing(lambda: False)
    if connection.vendor != "postgresql":
        with transaction.atomic():
            attempt.save(force_insert=True)
            held = Event.objects.filter(
                pk=attempt.event_id, attempts=attempt.number, status__in=spec.sources
            )
            moved = bool(held.update(status=spec.target, updated_at=now, **changes))
        return Finishing(lambda: moved)
    sets = {"status": str(spec.target), "updated_at": now, **changes}
    params = [
        *sets.values(),
        attempt.event_id,
        attempt.number,
        [str(source) for source in spec.sources],
        *(getattr(attempt, f.attname) for f in _stored()),
    ]
    if connection.in_atomic_block:
        # The caller's transaction commits it, so its own commit setting is not touched.
        with connection.cursor() as cursor:
            cursor.execute(_finish_sql(tuple(sets), in_transaction=True), params)
            (moved,) = cursor.fetchone()
        return Finishing(lambda: bool(moved))
    sql = _finish_sql(tuple(sets), in_transaction=False, again=again)
    return Finishing(pgwire.send(sql, params, lambda moved: bool(int(moved or 0))))


def _stored() -> list[Field[Any, Any]]:
    """The Attempt columns ``send_finish`` inserts: all but the key."""
    return [f for f in Attempt._meta.concrete_fields if not f.primary_key]


@functools.cache
def _finish_sql(columns: tuple[str, ...], in_transaction: bool, again: bool = False) -> str:
    """``send_finish``'s statement for an UPDATE of these Event fields (PostgreSQL): the
    parameters are the fields' values, the event's id, the attempt number, the move's
    sources and the attempt's columns (``_stored``). It answers 1 if the event moved.
    ``in_transaction``: for a Django cursor in the caller's transaction, which keeps its
    commit setting; else for ``pgwire.send``, a transaction of its own. ``again``: the
    attempt is inserted only if that event has none of that number (then no row)."""
    quote = connection.ops.quote_name
    fields = [cast("Field[Any, Any]", Event._meta.get_field(name)) for name in columns]
    typed = pgwire.Parameters(numbered=not in_transaction)
    quick = "1" if in_transaction else "set_config('synchronous_commit', 'off', true)"
    assignments = ", ".join(f"{quote(str(f.column))} = {typed.of(f)}" for f in fields)
    key, number, sources = typed.cast("bigint"), typed.cast("integer"), typed.cast("text[]")
    stored = ", ".join(quote(str(f.column)) for f in _stored())
    values = ", ".join(typed.of(f) for f in _stored())
    unless = ""
    if again:
        table, event, numbered = (quote(n) for n in (Attempt._meta.db_table, "event_id", "number"))
        unless = (
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} "  # noqa: S608
            f"WHERE {event} = {key} AND {numbered} = {number})"
        )
    return (
        f"WITH quick AS (SELECT {quick}), "  # noqa: S608
        f"moved AS (UPDATE {quote(Event._meta.db_table)} SET {assignments} "
        f"WHERE id = {key} AND attempts = {number} AND status = ANY({sources}) RETURNING 1) "
        f"INSERT INTO {quote(Attempt._meta.db_table)} ({stored}) SELECT {values} FROM quick "
        f"{unless} RETURNING (SELECT count(*) FROM moved)"
    )


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
