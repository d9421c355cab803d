"""Deliver stored events to Seg's tracker: claim, post, record, release.

The row decides everything. A worker claims the due events of its task by
locking and leasing their rows; it posts each with no transaction open, and
stores each attempt, moving its event on, before the next post leaves
(sent as soon as Seg answers, read back just before that post), conditional
on still holding the claim (the attempt number is the lease token). A
worker that dies leaves the leases to lapse, and the sweeper queues the
events again; only the post it had on the wire can reach Seg twice. A lost
connection to the database stops the posting until the outcome is stored anew.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import reduce
from operator import or_
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import conf, lifecycle
from ..core import Verdict
from ..models import Event, EventQuerySet, Source
from . import outcomes, stopping, throttle, tracker

# Re-exported: the claim is this loop's first step.
from .claims import Claim as Claim
from .claims import claim as claim
from .claims import claim_many as claim_many
from .claims import due_ids

logger = logging.getLogger(__name__)


def deliver(event_id: int) -> Verdict | None:
    """One delivery attempt for ``event_id`` if due and unclaimed: its verdict, or None."""
    return next(iter(deliver_many([event_id])), None)


def deliver_many(
    event_ids: Sequence[int], drain: bool = False, source: str | None = None
) -> list[Verdict]:
    """Make one delivery attempt for each due, unclaimed event among ``event_ids``.

    ``drain``: with them, other due events of their source, up to
    SEG_DELIVERY_BATCH in all (``claim_many``'s ``more``): a delivery task's
    way, so that events committed one per transaction meet a few claims
    rather than one task each. ``source``: the source whose queue the task came
    from (``claim_many``'s), when known.

    First stores any outcome this process kept while the database was away
    (``outcomes.store_kept``). Claims them together, then posts them one by one on a keep-alive
    session. Each outcome's statement leaves for the database as soon as Seg has answered
    (``outcomes.send_record``), and is read back before the next post leaves: a worker killed at
    any moment has at most one post whose outcome will not be on its row (the one on the wire),
    and a kill sends at most one event again per process. If the connection is lost (the session
    terminated, the server restarting, a failover), the outcome is stored again on a fresh
    connection before anything more is posted, and the batch goes on; if the database stays away
    past SEG_LEASE, the outcome is kept in the process and its error raised, ending the task
    (the leases lapse). A post starts only while its lease has room for a whole
    SEG_POST_DEADLINE, and (while an erasure runs) its claim is still held; claims past that,
    held back by their website's throttle, or behind one of their customer's that will be
    retried, are given back; so are a page's events left once its task has posted for
    SEG_BROWSER_SLICE, so that the process is soon free for the server's events (its queue is
    polled first). Pages' posts take the throttle's pages' share too, and a page's task that
    must wait for it gives its events back at once rather than sleep in its process. Returns the
    verdicts of the attempts made. Database errors propagate; the leases then lapse and the
    sweeper retries.
    """
    outcomes.store_kept()  # what Seg answered before the database went away comes first
    claimed_at = time.monotonic()
    batch = max(int(conf.get_setting("SEG_DELIVERY_BATCH")), 1)
    if drain:
        lifecycle.wake_up_started()  # commits from now on queue their own; the claim sees the rest
    more = max(batch - len(event_ids), 0) if drain else 0
    claims = claim_many(event_ids, timezone.now(), more, source)
    erasing = bool(claims) and lifecycle.erasing()  # read after the claim commits
    room = conf.get_setting("SEG_LEASE").total_seconds() - conf.post_deadline()
    browser_slice = conf.get_setting("SEG_BROWSER_SLICE").total_seconds()
    made: list[tuple[Claim, Verdict]] = []
    in_order, retrying = lifecycle.in_order(), set[str]()  # lines whose event will be retried
    in_line: list[Claim] = []  # behind one of those: they wait for its outcome
    unreported: str | None = None  # the website of a 2xx the throttle has not heard of yet
    storing: list[outcomes.Recording] = []  # the last outcome sent, its answer not read yet
    shut: dict[str, tuple[throttle.Wait, list[Claim]]] = {}  # a website held back: its claims

    def settle() -> None:
        while storing:
            storing.pop().settle()

    try:
        for position, held in enumerate(claims):
            if lifecycle.lines(held.event) & retrying:
                in_line.append(held)
                retrying |= lifecycle.lines(held.event)  # an alias's events wait behind it too
                continue
            if held.event.website in shut:
                shut[held.event.website][1].append(held)
                continue
            browser, spent = held.event.source == Source.BROWSER, time.monotonic() - claimed_at
            if stopping.requested() or (
                position and (spent > room or (browser and spent > browser_slice))
            ):
                settle()
                reason = (
                    throttle.Reason.STOPPING
                    if stopping.requested()
                    else throttle.Reason.LEASE_RUNNING_OUT
                    if spent > room
                    else throttle.Reason.SLICE
                )
                give_back(claims[position:], throttle.Wait(timedelta(0), reason))
                break
            website = held.event.website  # each Seg website has its own throttle
            wait, unreported = throttle.gate(unreported, browser, website), None
            # A page's task never sleeps in its process: it gives its events back
            # (a short wait rides a countdown), so the process is free for the server's.
            while wait is not None and not browser and throttle.sleep_briefly(wait):
                wait = throttle.gate(browser=browser, website=website)
            if wait is not None:
                shut[website] = (wait, [held])
                continue
            settle()  # nothing more is posted before what Seg answered is on its event
            if erasing and not holding(held).exists():  # erased since: never posted
                continue
            posted = attempt(held, report_delivered=False)
            unreported = website if posted.answer.verdict is Verdict.DELIVERED else None
            storing.append(outcomes.send_record(posted))
            made.append((held, storing[-1].result.verdict))
            if made[-1][1] is Verdict.RETRY and in_order:
                retrying |= lifecycle.lines(held.event)
    finally:
        try:
            settle()
        finally:
            lifecycle.drop_unread()  # an outcome left unread by an error: that session is done
            if unreported is not None:
                throttle.report(Verdict.DELIVERED, 200, None, website=unreported)
    for wait, held_back in shut.values():
        give_back(held_back, wait)
    if in_line:
        give_back(in_line, throttle.Wait(timedelta(0), throttle.Reason.IN_LINE))
    # The customers' next events, which waited on those delivered or failed, are due now.
    done = [held.event.pk for held, verdict in made if verdict is not Verdict.RETRY]
    lifecycle.wake_next(done, timezone.now())
    # What is due now beyond this claim (more than one claim takes, or rows a claim refused
    # or kept in line), unless a task of the source already waits for it: the next task.
    if drain and claims:
        source = claims[0].event.source
        size = lifecycle.batch_size(source)
        lifecycle.wake(source, lambda: due_ids(source, timezone.now(), size))
    return [verdict for _, verdict in made]


def attempt(held: Claim, report_delivered: bool = True) -> outcomes.Posted:
    """Build and post one claimed event's request, and tell the throttle; what came of it.

    With ``report_delivered`` false a 2xx is left for the caller to report
    (``throttle.gate(delivered=True)`` before its next post saves a round trip).

    An unexpected error while building or posting it (a payload that will not
    encode, a header that will not send) is this event's attempt, with its
    error class and message, retried like a network error; the rest of the
    batch goes on. A Celery time limit is not such an error: it propagates.
    """
    event, started_at, started, url = held.event, timezone.now(), time.perf_counter(), ""
    try:
        url = tracker.endpoint(event.action, event.website)
        key = tracker.request_key(event.message_id, event.source)
        answer = tracker.post(url, event.payload, key)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:
        logger.exception("Could not post event %s; recorded as its attempt.", event.pk)
        answer = tracker.Answer.unanswered(exc, f"{type(exc).__name__}: {exc}", started)
    else:
        # Only what Seg (or the network to it) answered moves the shared throttle.
        if report_delivered or answer.verdict is not Verdict.DELIVERED:
            throttle.report(answer.verdict, answer.status_code, answer.retry_after, event.website)
    return outcomes.Posted(held, url, started_at, answer)


def holding(*claims: Claim) -> EventQuerySet:
    """The rows these claims still hold: the event, at the claim's attempt (the lease token)."""
    return Event.objects.filter(reduce(or_, (Q(pk=c.event.pk, attempts=c.number) for c in claims)))


def give_back(claims: Sequence[Claim], wait: throttle.Wait) -> None:
    """Return claims that were not posted; they count as no attempt.

    While the circuit is open the events wait on the row for the sweeper,
    which lets one probe through at a time, as do events behind one of their
    customer's that will be retried (its outcome queues them); a shorter wait
    rides a countdown.
    """
    now = timezone.now()
    in_line = wait.reason is throttle.Reason.IN_LINE  # due at once, for the wake-up to find
    delay = wait.delay + timedelta(seconds=0 if in_line else random.uniform(0, 0.5))
    waits_on_row = in_line or wait.reason is throttle.Reason.CIRCUIT_OPEN
    ride = not waits_on_row and delay <= conf.get_setting("SEG_MAX_COUNTDOWN")
    kept_ids: list[int] = []
    with transaction.atomic():
        for held in claims:
            changes: dict[str, Any] = {
                "attempts": held.number - 1,
                "tries": held.tries - 1,
                "next_attempt_at": now + delay,
                "enqueued_at": now if ride else None,
            }
            if held.tries == 1:
                changes["first_attempt_at"] = None  # the retry window starts at a real attempt
            if lifecycle.move(holding(held), "give_back", now=now, **changes):
                kept_ids.append(held.event.pk)
        if kept_ids and ride:
            transaction.on_commit(lambda: lifecycle.queue(kept_ids, delay))
