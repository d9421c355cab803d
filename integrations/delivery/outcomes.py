"""What one posted attempt comes to, and storing it: the verdict, the Attempt row, the move.

``outcome`` decides, with no I/O: a 2xx is delivered, a transient answer is
retried on the retry policy's schedule (or fails once the window or the
attempt budget is spent), any other answer fails. ``send_record`` stores it
through ``lifecycle.send_finish``, conditional on the worker's lease token; an
outcome whose connection was lost is stored again on a fresh one, or kept in
the process until the database is back (``store_again``, ``store_kept``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from .. import conf, instruments, lifecycle
from ..core import Verdict, per_process
from ..models import Attempt, Event
from . import tracker

logger = logging.getLogger(__name__)


class Claimed(Protocol):
    """What an outcome reads of a worker's claim on its event (``claims.Claim``)."""

    @property
    def number(self) -> int:
        """The attempt's number, and the lease token."""

    @property
    def tries(self) -> int:
        """Attempts this round, for the retry policy."""

    @property
    def event(self) -> Event:
        """The event claimed."""

    @property
    def due_since(self) -> datetime | None:
        """When the event last became due (its receipt, or its last release, retry,
        replay or unsuppress)."""


@dataclass(frozen=True)
class Posted:
    """One claimed event, posted: what to record."""

    held: Claimed
    url: str
    started_at: datetime
    answer: tracker.Answer


@dataclass(frozen=True)
class Outcome:
    """What one posted attempt comes to: its verdict, its Attempt row, and the event's move."""

    verdict: Verdict
    row: Attempt
    move: lifecycle.MoveName  # deliver, retry_later or fail
    changes: dict[str, Any]
    countdown: timedelta | None  # the wake-up to queue for a retry soon enough to ride one


def outcome(item: Posted, now: datetime) -> Outcome:
    """Decide what ``item`` comes to at ``now``; no I/O. A transient answer is retried on the
    retry policy's schedule, or fails once the window or the attempt budget is spent; any
    other is final. A retry due within SEG_MAX_COUNTDOWN rides a wake-up; a later one waits
    on the row for the sweeper."""
    held, answer = item.held, item.answer
    verdict, retry_at = answer.verdict, None
    if verdict is Verdict.RETRY:
        retry_at = conf.retry_policy().next_attempt(
            held.tries, held.event.first_attempt_at or item.started_at, now, answer.retry_after
        )
        if retry_at is None:
            verdict = Verdict.FAILED
    row = Attempt(
        event_id=held.event.pk,
        number=held.number,
        started_at=item.started_at,
        duration_ms=round(answer.duration_ms, 2),
        url=item.url[:500],
        status_code=answer.status_code,
        response_excerpt=answer.excerpt,
        error_class=answer.error_class,
        error=answer.error,
        verdict=verdict.value,
        retry_at=retry_at,
    )
    if verdict is Verdict.DELIVERED:
        changes = {"delivered_at": now, "next_attempt_at": None, "last_error": ""}
        return Outcome(verdict, row, "deliver", changes, None)
    changes = {"last_error": answer.error}
    if verdict is Verdict.RETRY and retry_at is not None:
        countdown = retry_at - now
        ride = countdown <= conf.get_setting("SEG_MAX_COUNTDOWN")
        changes |= {"next_attempt_at": retry_at, "enqueued_at": now if ride else None}
        return Outcome(verdict, row, "retry_later", changes, countdown if ride else None)
    reason = "Seg refused it." if answer.verdict is Verdict.FAILED else "Retries ran out."
    changes |= {"next_attempt_at": None, "status_reason": reason}
    return Outcome(verdict, row, "fail", changes, None)


def lost(error: DatabaseError) -> bool:
    """Whether ``error`` may have come of losing the connection to the database (the
    session terminated, the server restarting, a failover), so that the statement may or
    may not have run: not a refusal of the statement itself. libpq reports some losses
    as no particular class, so a connection that no longer answers counts too."""
    if connection.in_atomic_block:
        return False  # the caller's transaction is gone with it: theirs to handle
    return isinstance(error, OperationalError | InterfaceError) or not connection.is_usable()


@dataclass(frozen=True)
class Recording:
    """One posted attempt's outcome, on its way to the database (``lifecycle.send_finish``)."""

    item: Posted
    result: Outcome
    now: datetime
    finishing: lifecycle.Finishing

    def settle(self) -> Verdict:
        """Wait until it is stored; then queue a retry's wake-up, or warn of a late finish.
        Returns the attempt's verdict.

        If the connection was lost on the way, the outcome is stored again on a
        fresh one (``store_again``) before this returns, so that nothing more is
        posted before what Seg answered is on its event. Raises the database's
        error if that fails too (the outcome is then kept in this process), or
        at once for any other error.
        """
        try:
            moved = self.finishing.moved()
        except DatabaseError as error:
            if not lost(error):
                raise
            moved = store_again(self)
            self.applied(moved, again=True)
        else:
            self.applied(moved)
        return self.result.verdict

    def applied(self, moved: bool, again: bool = False) -> None:
        """What follows the store: a retry's wake-up, or a word on why the event did not move."""
        held = self.item.held
        duration = self.item.answer.duration_ms
        received = held.event.received_at
        due = held.due_since or received
        instruments.attempted(self.result.verdict, duration, received, due, self.now)
        if not moved:
            logger.warning(
                "Attempt %d of event %s %s: recorded, not applied.",
                held.number,
                held.event.pk,
                "stored again after its connection was lost, and had been stored already "
                "or its lease was taken"
                if again
                else "finished after its lease was taken",
            )
        elif self.result.countdown is not None:
            # After the commit (at once, outside a transaction).
            transaction.on_commit(
                partial(
                    lifecycle.queue,
                    [held.event.pk],
                    self.result.countdown,
                    source=held.event.source,
                )
            )


# Outcomes whose store failed until the database was back: kept in this process,
# and stored (``store_kept``) before it claims anything again.
_kept: Callable[[], list[Recording]] = per_process(list)


def store_again(recording: Recording) -> bool:
    """Store ``recording`` once more, after its connection was lost: on a fresh connection,
    again and again with a growing pause for up to SEG_LEASE. Not twice if the first
    statement ran after all (``send_finish(again=True)``). Whether the event moved.

    If the database is away all that time, the outcome is kept in this process
    (``store_kept`` writes it first when it is back) and the last error is raised.
    """
    item, result = recording.item, recording.result
    give_up = time.monotonic() + conf.get_setting("SEG_LEASE").total_seconds()
    pause = 0.05
    while True:
        connection.close()
        try:
            again = lifecycle.send_finish(
                result.row, result.move, recording.now, again=True, **result.changes
            )
            return again.moved()
        except DatabaseError as error:
            if not lost(error):
                raise
            if time.monotonic() + pause > give_up:
                logger.error(
                    "The outcome of attempt %d of event %s could not be stored: kept until "
                    "the database is back.",
                    item.held.number,
                    item.held.event.pk,
                )
                _kept().append(recording)
                raise
            time.sleep(pause)
            pause = min(2 * pause, 1.0)


def store_kept() -> None:
    """Store the outcomes this process kept (``store_again``), the oldest first. Raises the
    database's error if it is still away; what is not stored yet stays kept."""
    kept = _kept()
    while kept:
        recording, result = kept[0], kept[0].result
        moved = lifecycle.send_finish(
            result.row, result.move, recording.now, again=True, **result.changes
        ).moved()
        kept.pop(0)
        recording.applied(moved, again=True)


def send_record(item: Posted) -> Recording:
    """Send one attempt to be stored, moving its event on if this worker still holds the claim.

    The move is conditional on the lease token (the attempt number), so a
    late finish never overwrites a newer claim; its attempt is kept all the
    same. On PostgreSQL the statement is not waited for but has left the
    process, so a worker killed after this has the outcome stored;
    ``settle()`` before the connection is used again, and before anything
    more is posted. A connection found lost as it is sent is left for
    ``settle()`` to store again.
    """
    now = timezone.now()
    result = outcome(item, now)
    try:
        finishing = lifecycle.send_finish(result.row, result.move, now, **result.changes)
    except DatabaseError as error:
        if not lost(error):
            raise
        finishing = lifecycle.Finishing(partial(_raise, error))
    return Recording(item, result, now, finishing)


def _raise(error: BaseException) -> bool:
    raise error


def record(item: Posted) -> Verdict:
    """Store one attempt and move its event on (``send_record``, settled). Its verdict."""
    return send_record(item).settle()
