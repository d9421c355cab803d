"""A worker's outcome, stored: its attempt and its event's move, on PostgreSQL sent without
waiting (``pgwire``) and read back before the connection is used again.

This is the recording seam, and the only module that speaks PostgreSQL's wire
protocol. Like ``moves``, it writes ``Event.status`` only under the move's guard.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Field

from ..models import Attempt, Event
from . import pgwire
from .moves import MOVES, MoveName


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
    attempt: Attempt, name: MoveName, now: datetime, again: bool = False, **changes: Any
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


def drop_unread() -> None:
    """Close Django's connection if a ``send_finish`` on it was never read back (an error
    came between the send and ``moved()``): that session can run nothing else, and the next
    query opens a new one. The statement itself still runs."""
    pgwire.drop_if_busy()


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
