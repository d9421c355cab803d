"""Classify Seg's answers and schedule retries: pure, no I/O."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


TRANSIENT = frozenset({408, 409, 425, 429})
# Retry-After's delay-seconds form: ASCII digits only (str.isdigit takes others).
DELAY_SECONDS = re.compile(r"[0-9]{1,30}")
# Longer than any cap a shop would set; keeps datetime arithmetic in range.
MAX_WAIT = timedelta(days=3650)


def classify_status(status: int) -> Verdict:
    """What the contract's table ("Seg's answers") says to do with an HTTP status.

    2xx is delivered. A 4xx is a refusal for good, except the TRANSIENT ones.
    Everything else is retried: 5xx, and 3xx, which is no delivery (Seg does
    not move; a redirect is never followed), and any status outside the
    standard classes, which only a proxy in the way makes up.
    """
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if 400 <= status < 500 and status not in TRANSIENT:
        return Verdict.FAILED
    return Verdict.RETRY


def error_class(status: int | None, exception: BaseException | None = None) -> str:
    """A short, groupable name for what went wrong ('' when nothing did)."""
    if exception is not None:
        return type(exception).__name__
    if status is None or 200 <= status < 300:
        return ""
    return f"HTTP {status}"


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Read a Retry-After header (RFC 9110 section 10.2.3): seconds, or an HTTP date.

    None when absent or unreadable; a date in the past is no wait. A wait too
    long for a timedelta comes back as MAX_WAIT: the caller caps it anyway
    (SEG_RETRY_AFTER_CAP).
    """
    if not value:
        return None
    value = value.strip()
    if DELAY_SECONDS.fullmatch(value):
        return timedelta(seconds=min(int(value), int(MAX_WAIT.total_seconds())))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(when - now, timedelta(0)), MAX_WAIT)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed delivery again (settings SEG_RETRY_*, SEG_MAX_ATTEMPTS)."""

    base: timedelta
    cap: timedelta
    window: timedelta
    max_attempts: int
    retry_after_cap: timedelta = timedelta(hours=1)

    def next_attempt(
        self,
        attempts: int,
        first_attempt_at: datetime,
        now: datetime,
        retry_after: timedelta | None = None,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """When to try again after ``attempts`` tries, or None to give up.

        Exponential backoff with full jitter, bounded by the retry window (from
        the first attempt) and by max attempts. When Seg said when to come back
        (Retry-After), the next attempt is no sooner than that, capped at
        ``retry_after_cap``, and the window does not apply: an event never fails
        because Seg asked it to wait (contract, "Seg's answers"). The attempt
        budget still does.
        """
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.cap, self.base * (2 ** max(attempts - 1, 0)))
        delay = timedelta(seconds=(rng or random).uniform(0, ceiling.total_seconds()))
        if retry_after is not None:
            return now + max(delay, min(retry_after, self.retry_after_cap))
        when = now + delay
        if when > first_attempt_at + self.window:
            return None
        return when
