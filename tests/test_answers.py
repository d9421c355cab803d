"""Seg's answers are classified by the contract's table; retries back off within bounds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from integrations.core import RetryPolicy, Verdict, classify_status, parse_retry_after

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (201, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (400, Verdict.FAILED),
        (401, Verdict.FAILED),
        (403, Verdict.FAILED),
        (404, Verdict.FAILED),
        (410, Verdict.FAILED),
        (413, Verdict.FAILED),
        (422, Verdict.FAILED),
        (418, Verdict.FAILED),
        (408, Verdict.RETRY),
        (409, Verdict.RETRY),
        (425, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (599, Verdict.RETRY),
        (300, Verdict.RETRY),
        (301, Verdict.RETRY),
        (302, Verdict.RETRY),
        (304, Verdict.RETRY),
        (307, Verdict.RETRY),
        (308, Verdict.RETRY),
        (100, Verdict.RETRY),
        (600, Verdict.RETRY),
        (999, Verdict.RETRY),
    ],
)
def test_classify(status: int, verdict: Verdict) -> None:
    assert classify_status(status) is verdict


def test_retry_after_seconds_and_date() -> None:
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert parse_retry_after("Sat, 28 Nov 2026 12:01:30 GMT", NOW) == timedelta(seconds=90)
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", NOW) == timedelta(0)
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


POLICY = RetryPolicy(
    base=timedelta(seconds=2), cap=timedelta(minutes=30), window=timedelta(hours=4), max_attempts=10
)


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    rng = random.Random(7)
    for attempts in range(1, 9):
        ceiling = min(2 * 2 ** (attempts - 1), 1800)
        delays = [
            (POLICY.next_attempt(attempts, NOW, NOW, rng=rng) - NOW).total_seconds()
            for _ in range(200)
        ]
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert max(delays) > ceiling * 0.8  # jitter spans the whole range


def test_retry_after_is_a_floor() -> None:
    when = POLICY.next_attempt(1, NOW, NOW, retry_after=timedelta(seconds=45))
    assert when is not None and when - NOW >= timedelta(seconds=45)


def test_gives_up_past_the_window_or_the_attempts() -> None:
    assert POLICY.next_attempt(10, NOW, NOW) is None
    assert POLICY.next_attempt(10, NOW, NOW, retry_after=timedelta(seconds=1)) is None
    past = NOW + timedelta(hours=4, seconds=1)
    assert POLICY.next_attempt(2, NOW, past) is None


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        (timedelta(seconds=30), timedelta(seconds=30)),
        (timedelta(hours=6), timedelta(hours=1)),  # capped
        (timedelta(days=3650), timedelta(hours=1)),
    ],
)
def test_seg_asking_to_wait_never_fails_the_event(retry_after: timedelta, wait: timedelta) -> None:
    late = NOW + timedelta(hours=3, minutes=59, seconds=59)  # the window is all but spent
    when = POLICY.next_attempt(2, NOW, late, retry_after=retry_after, rng=random.Random(1))
    assert when is not None
    assert wait <= when - late <= max(wait, timedelta(seconds=4))


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("21600", timedelta(hours=6)),
        (" 7 ", timedelta(seconds=7)),
        ("0", timedelta(0)),
        ("9" * 30, timedelta(days=3650)),  # past what a timedelta holds
        ("²", None),  # str.isdigit says yes; it is no number
        ("-5", None),
        ("1.5", None),
        ("Fri, 31 Dec 9999 23:59:59 GMT", timedelta(days=3650)),
        ("Mon, 01 Jan 0001 00:00:00 GMT", timedelta(0)),
        ("Sat, 28 Nov 2026 12:01:30", None),  # a date without a zone
        ("", None),
    ],
)
def test_retry_after_any_header(header: str, wait: timedelta | None) -> None:
    assert parse_retry_after(header, NOW) == wait
