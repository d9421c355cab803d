"""What one posted attempt comes to, and storing it: the verdict, the Attempt row, the move.

``outcome`` decides, with no I/O: a 2xx is delivered, a transient answer is
retried on the retry policy's schedule (or fails once the window or the
attempt budget is spent), any other answer fails. ``send_record`` stores it
through ``lifecycle.send_finish``, conditional on the worker's lease token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from . import conf, dispatch, lifecycle, tracker
from .answers import Verdict
from .models import Attempt

if TYPE_CHECKING:
    from .delivery import Claim

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Posted:
    """One claimed event, posted: what to record."""

    held: Claim
    url: str
    started_at: datetime
    answer: tracker.Answer


@dataclass(frozen=True)
class Outcome:
    """What one posted attempt comes to: its verdict, its Attempt row, and the event's move."""

    verdict: Verdict
    row: Attempt
    move: str  # a lifecycle move: deliver, retry_later or fail
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


@dataclass(frozen=True)
class Recording:
    """One posted attempt's outcome, on its way to the database (``lifecycle.send_finish``)."""

    item: Posted
    result: Outcome
    finishing: lifecycle.Finishing

    def settle(self) -> Verdict:
        """Wait until it is stored; then queue a retry's wake-up, or warn of a late finish.
        Returns the attempt's verdict; raises the database's error."""
        item = self.item
        if not self.finishing.moved():
            logger.warning(
                "Attempt %d of event %s finished after its lease was taken: recorded, not applied.",
                item.held.number,
                item.held.event.pk,
            )
        elif self.result.countdown is not None:
            # After the commit (at once, outside a transaction).
            event = item.held.event
            transaction.on_commit(
                partial(dispatch.queue, [event.pk], self.result.countdown, source=event.source)
            )
        return self.result.verdict


def send_record(item: Posted) -> Recording:
    """Send one attempt to be stored, moving its event on if this worker still holds the claim.

    The move is conditional on the lease token (the attempt number), so a
    late finish never overwrites a newer claim; its attempt is kept all the
    same. On PostgreSQL the statement is not waited for (the caller posts the
    next event meanwhile) but has left the process, so a worker killed after
    this has the outcome stored; ``settle()`` before the connection is used
    again.
    """
    now = timezone.now()
    result = outcome(item, now)
    return Recording(
        item, result, lifecycle.send_finish(result.row, result.move, now, **result.changes)
    )


def record(item: Posted) -> Verdict:
    """Store one attempt and move its event on (``send_record``, settled). Its verdict."""
    return send_record(item).settle()
