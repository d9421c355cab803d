"""Deliver one stored event to Seg's tracker: claim, post, record, release.

The row decides everything. A worker claims an event with a conditional
UPDATE that also sets a lease; it posts with no transaction open; then it
records the attempt and moves the event on, conditional on still holding
the claim. A worker that dies leaves the lease to lapse, and the sweeper
queues the event again.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import USER_AGENT, conf, dispatch, throttle
from .answers import RetryPolicy, Verdict, classify_status, error_class, parse_retry_after
from .models import Attempt, Event, Status

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 500

_sessions: dict[int, requests.Session] = {}


def session() -> requests.Session:
    """One keep-alive session per process (a forked worker gets its own)."""
    pid = os.getpid()
    if pid not in _sessions:
        _sessions.clear()
        _sessions[pid] = requests.Session()
    return _sessions[pid]


def endpoint(action: str) -> str:
    """The tracker URL for ``action``; it holds the website id, never a secret."""
    return f"{conf.tracker_url()}/django/{conf.website_id()}/{action}"


def retry_policy() -> RetryPolicy:
    return RetryPolicy(
        base=conf.get_setting("SEG_RETRY_BASE"),
        cap=conf.get_setting("SEG_RETRY_CAP"),
        window=conf.get_setting("SEG_RETRY_WINDOW"),
        max_attempts=conf.get_setting("SEG_MAX_ATTEMPTS"),
    )


@dataclass(frozen=True)
class Answer:
    """What one POST to Seg came to."""

    verdict: Verdict
    status_code: int | None
    excerpt: str
    error_class: str
    error: str
    retry_after: timedelta | None
    duration_ms: float


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one event for one attempt."""

    number: int  # the attempt's number, and the lease token
    tries: int  # attempts this round, for the retry policy
    event: Event = field(compare=False, repr=False)  # what to send


def claim(event_id: int, now: datetime) -> Claim | None:
    """Take the event for one attempt, or None.

    None means another worker holds it, it is not due, or it needs nothing.
    """
    claimed = (
        Event.objects.filter(pk=event_id)
        .due(now)
        .update(
            status=Status.SENDING,
            attempts=F("attempts") + 1,
            tries=F("tries") + 1,
            next_attempt_at=now + conf.get_setting("SEG_LEASE"),
            enqueued_at=None,
            first_attempt_at=Coalesce(F("first_attempt_at"), now),
            updated_at=now,
        )
    )
    if not claimed:
        return None
    event = Event.objects.only(
        "attempts", "tries", "action", "payload", "message_id", "first_attempt_at"
    ).get(pk=event_id)
    return Claim(event.attempts, event.tries, event)


def post(url: str, payload: object, message_id: str) -> Answer:
    """POST one payload to Seg and classify the answer. Never raises for network errors."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": message_id,
    }
    timeout = (conf.get_setting("SEG_CONNECT_TIMEOUT"), conf.get_setting("SEG_READ_TIMEOUT"))
    started = time.perf_counter()
    try:
        response = session().post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        return Answer(
            Verdict.RETRY,
            None,
            "",
            error_class(None, exc),
            str(exc)[:EXCERPT_CHARS],
            None,
            (time.perf_counter() - started) * 1000,
        )
    duration = (time.perf_counter() - started) * 1000
    verdict = classify_status(response.status_code)
    excerpt = response.text[:EXCERPT_CHARS]
    return Answer(
        verdict,
        response.status_code,
        excerpt,
        error_class(response.status_code),
        "" if verdict is Verdict.DELIVERED else f"HTTP {response.status_code}: {excerpt[:200]}",
        parse_retry_after(response.headers.get("Retry-After"), timezone.now()),
        duration,
    )


def deliver(event_id: int) -> Verdict | None:
    """Make one delivery attempt for ``event_id`` if it is due and unclaimed.

    Returns the verdict, or None when there was nothing to do. Database
    errors propagate; the lease then lapses and the sweeper retries.
    """
    started_at = timezone.now()
    held = claim(event_id, started_at)
    if held is None:
        return None
    wait = throttle.gate()
    while wait is not None and throttle.sleep_briefly(wait):
        wait = throttle.gate()
    if wait is not None:
        defer(event_id, held, wait)
        return None
    event = held.event
    url = endpoint(event.action)
    answer = post(url, event.payload, event.message_id)
    throttle.report(answer.verdict, answer.status_code, answer.retry_after)
    return record(event, held, url, started_at, answer)


def defer(event_id: int, held: Claim, wait: throttle.Wait) -> None:
    """Give back a claim the throttle would not let through; it is no attempt.

    While the circuit is open the event waits on the row for the sweeper,
    which lets one probe through at a time; a shorter wait rides a countdown.
    """
    now = timezone.now()
    delay = wait.delay + timedelta(seconds=random.uniform(0, 0.5))
    ride = wait.reason != "circuit open" and delay <= conf.get_setting("SEG_MAX_COUNTDOWN")
    changes: dict[str, object] = {
        "status": Status.PENDING,
        "attempts": held.number - 1,
        "tries": held.tries - 1,
        "next_attempt_at": now + delay,
        "enqueued_at": now if ride else None,
        "updated_at": now,
    }
    if held.tries == 1:
        changes["first_attempt_at"] = None  # the retry window starts at a real attempt
    with transaction.atomic():
        kept = Event.objects.filter(
            pk=event_id, status=Status.SENDING, attempts=held.number
        ).update(**changes)
        if kept and ride:
            transaction.on_commit(lambda: dispatch.queue([event_id], delay))


def record(event: Event, held: Claim, url: str, started_at: datetime, answer: Answer) -> Verdict:
    """Store the attempt and move the event on, if this worker still holds it."""
    now = timezone.now()
    number = held.number
    verdict, retry_at = answer.verdict, None
    if verdict is Verdict.RETRY:
        retry_at = retry_policy().next_attempt(
            held.tries, event.first_attempt_at or started_at, now, answer.retry_after
        )
        if retry_at is None:
            verdict = Verdict.FAILED
    countdown = retry_at - now if retry_at else None
    ride_countdown = countdown is not None and countdown <= conf.get_setting("SEG_MAX_COUNTDOWN")
    changes: dict[str, object] = {"updated_at": now, "last_error": answer.error}
    if verdict is Verdict.DELIVERED:
        changes |= {"status": Status.DELIVERED, "delivered_at": now, "next_attempt_at": None}
    elif verdict is Verdict.RETRY:
        changes |= {
            "status": Status.PENDING,
            "next_attempt_at": retry_at,
            "enqueued_at": now if ride_countdown else None,
        }
    else:
        reason = "Seg refused it." if answer.verdict is Verdict.FAILED else "Retries ran out."
        changes |= {"status": Status.FAILED, "next_attempt_at": None, "status_reason": reason}
    with transaction.atomic():
        Attempt.objects.create(
            event_id=event.pk,
            number=number,
            started_at=started_at,
            duration_ms=round(answer.duration_ms, 2),
            url=url[:500],
            status_code=answer.status_code,
            response_excerpt=answer.excerpt,
            error_class=answer.error_class,
            error=answer.error,
            verdict=verdict.value,
            retry_at=retry_at,
        )
        kept = Event.objects.filter(pk=event.pk, status=Status.SENDING, attempts=number).update(
            **changes
        )
        if kept and ride_countdown and countdown is not None:
            transaction.on_commit(lambda: dispatch.queue([event.pk], countdown))
    if not kept:
        logger.warning("Event %s: attempt %s finished after its lease was taken.", event.pk, number)
    return verdict
