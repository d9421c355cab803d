"""Classify Seg's answers and schedule retries: pure, no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


PERMANENT = frozenset({400, 401, 403, 404, 410, 413, 422})
TRANSIENT = frozenset({408, 409, 425, 429})


def classify_status(status: int) -> Verdict:
    """What the contract's table says to do with an HTTP status from Seg."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in TRANSIENT or 500 <= status < 600:
        return Verdict.RETRY
    return Verdict.FAILED


def error_class(status: int | None, exception: BaseException | None = None) -> str:
    """A short, groupable name for what went wrong ('' when nothing did)."""
    if exception is not None:
        return type(exception).__name__
    if status is None or 200 <= status < 300:
        return ""
    return f"HTTP {status}"


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Read a Retry-After header given in seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta
    cap: timedelta
    window: timedelta
    max_attempts: int

    def next_attempt(
        self,
        attempts: int,
        first_attempt_at: datetime,
        now: datetime,
        retry_after: timedelta | None = None,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """When to try again after ``attempts`` tries, or None to give up.

        Exponential backoff with full jitter, never sooner than Retry-After,
        bounded by the retry window (from the first attempt) and max attempts.
        """
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.cap, self.base * (2 ** max(attempts - 1, 0)))
        delay = timedelta(seconds=(rng or random).uniform(0, ceiling.total_seconds()))
        if retry_after is not None:
            delay = max(delay, retry_after)
        when = now + delay
        if when > first_attempt_at + self.window:
            return None
        return when
