"""The shared throttle, on real Redis: a rate cap, a global pause, a circuit breaker."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from integrations.core import Verdict
from integrations.delivery import throttle

pytestmark = pytest.mark.redis


def test_rate_cap_lets_a_burst_through_then_makes_callers_wait(seg_settings: Any) -> None:
    seg_settings.SEG_RATE_LIMIT = 10
    answers = [throttle.gate() for _ in range(15)]
    assert answers[:10] == [None] * 10
    waits = [a for a in answers[10:] if a is not None]
    assert len(waits) >= 4
    assert all(w.reason == "rate" and w.delay <= timedelta(seconds=1) for w in waits)


def test_no_cap_when_the_rate_is_zero(seg_settings: Any) -> None:
    seg_settings.SEG_RATE_LIMIT = 0
    assert all(throttle.gate() is None for _ in range(500))


def test_429_pauses_every_worker_for_retry_after() -> None:
    throttle.report(Verdict.RETRY, 429, timedelta(seconds=3))
    wait = throttle.gate()
    assert wait is not None and timedelta(seconds=2) < wait.delay <= timedelta(seconds=3)
    # A shorter Retry-After never shortens a pause already in force.
    throttle.report(Verdict.RETRY, 503, timedelta(seconds=1))
    later = throttle.gate()
    assert later is not None and later.delay > timedelta(seconds=2)


def test_breaker_opens_probes_once_and_closes_on_success(seg_settings: Any) -> None:
    seg_settings.SEG_BREAKER_THRESHOLD = 3
    seg_settings.SEG_BREAKER_COOLDOWN = 0.5
    for _ in range(2):
        throttle.report(Verdict.RETRY, 500, None)
    assert throttle.gate() is None and not throttle.is_open()
    throttle.report(Verdict.RETRY, None, None)  # a timeout counts too
    assert throttle.is_open()
    wait = throttle.gate()
    assert wait is not None and wait.reason == "circuit open"
    time.sleep(0.6)
    assert throttle.gate() is None  # the one probe
    assert throttle.gate() is not None  # everyone else waits for its answer
    throttle.report(Verdict.DELIVERED, 200, None)
    assert not throttle.is_open()
    assert throttle.gate() is None


def test_failed_probe_reopens(seg_settings: Any) -> None:
    seg_settings.SEG_BREAKER_THRESHOLD = 1
    seg_settings.SEG_BREAKER_COOLDOWN = 0.3
    throttle.report(Verdict.RETRY, 502, None)
    time.sleep(0.4)
    assert throttle.gate() is None
    throttle.report(Verdict.RETRY, 502, None)
    wait = throttle.gate()
    assert wait is not None and wait.reason == "circuit open"


def another_worker_pauses(seconds: float) -> None:
    """What a 429 seen by another worker process leaves in Redis."""
    throttle._pause(throttle.client(), timedelta(seconds=seconds))


def calm_gate(seg_settings: Any, rate: float = 0, refresh: float = 60) -> None:
    """Set the cap and the refresh, and pass a gate: with no cap, a calm one."""
    seg_settings.SEG_RATE_LIMIT = rate
    seg_settings.SEG_THROTTLE_REFRESH = refresh
    assert throttle.gate() is None


def asks_and_is_paused() -> None:
    wait = throttle.gate()
    assert wait is not None and wait.reason == "paused"


def test_with_no_cap_a_calm_gate_is_trusted_for_the_refresh_then_asked_again(
    seg_settings: Any,
) -> None:
    calm_gate(seg_settings, refresh=0.3)
    another_worker_pauses(3)
    assert throttle.gate() is None  # within the refresh: not asked
    time.sleep(0.35)
    asks_and_is_paused()


def test_an_answer_but_a_2xx_ends_the_calm_before_the_next_post(seg_settings: Any) -> None:
    calm_gate(seg_settings)
    throttle.report(Verdict.RETRY, 500, None)  # counted: no calm while it stands
    assert throttle.gate() is None
    another_worker_pauses(3)
    asks_and_is_paused()


@pytest.mark.parametrize(("rate", "refresh"), [(10, 60), (0, 0)])
def test_with_a_cap_or_no_refresh_every_gate_asks(
    seg_settings: Any, rate: float, refresh: float
) -> None:
    calm_gate(seg_settings, rate, refresh)
    another_worker_pauses(3)
    asks_and_is_paused()


def test_a_2xx_within_the_calm_is_told_by_the_next_gate_that_asks(seg_settings: Any) -> None:
    calm_gate(seg_settings, refresh=0.2)
    throttle.client().incr(throttle.FAILURES)  # another worker's failure
    assert throttle.gate(delivered=True) is None  # within the calm: not asked
    assert throttle.client().exists(throttle.FAILURES)
    time.sleep(0.25)
    assert throttle.gate() is None  # asks, telling the 2xx: the failures count is cleared
    assert not throttle.client().exists(throttle.FAILURES)
