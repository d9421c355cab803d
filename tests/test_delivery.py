"""Delivery to a real local HTTP server playing Seg, for each answer in the contract."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from integrations import USER_AGENT, api, delivery, operations, throttle
from integrations.answers import Verdict
from integrations.models import Attempt, Event, Status
from integrations.sandbox import Answer, Sandbox

from .conftest import WEBSITE_ID

pytestmark = pytest.mark.django_db


def order_event() -> Event:
    message_id = api.track(
        "u1",
        "Order Completed",
        {"orderId": "o-1", "total": "30.50"},
        context={"traits": {"email": "ann@example.com"}},
    )
    return Event.objects.get(message_id=message_id)


def test_delivered_exactly_as_the_contract_says(sandbox: Sandbox) -> None:
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.DELIVERED
    [received] = sandbox.snapshot()
    assert received.path == f"/django/{WEBSITE_ID}/order-placed"
    assert received.body == event.payload
    assert received.body["Total"] == 30.5
    headers = received.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Idempotency-Key"] == event.message_id
    event.refresh_from_db()
    assert event.status == Status.DELIVERED and event.delivered_at is not None
    [attempt] = Attempt.objects.filter(event=event)
    assert (attempt.number, attempt.status_code, attempt.verdict) == (1, 200, "delivered")
    assert attempt.url.endswith("/order-placed") and attempt.duration_ms > 0


def test_a_claimed_event_is_not_delivered_twice(sandbox: Sandbox) -> None:
    event = order_event()
    assert delivery.claim(event.pk, timezone.now()) == delivery.Claim(1, 1, event)
    assert delivery.deliver(event.pk) is None
    assert sandbox.snapshot() == []


def test_permanent_refusal_fails_without_retry(sandbox: Sandbox) -> None:
    sandbox.script(Answer(status=422, body={"error": "bad email"}))
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.FAILED
    event.refresh_from_db()
    assert event.status == Status.FAILED and event.next_attempt_at is None
    assert "HTTP 422" in event.last_error and "bad email" in event.last_error
    assert Attempt.objects.get(event=event).response_excerpt == '{"error": "bad email"}'


def test_429_honours_retry_after_then_delivers(sandbox: Sandbox) -> None:
    sandbox.script(Answer(status=429, headers={"Retry-After": "120"}))
    event = order_event()
    before = timezone.now()
    assert delivery.deliver(event.pk) is Verdict.RETRY
    event.refresh_from_db()
    assert event.status == Status.PENDING
    assert event.next_attempt_at >= before + timedelta(seconds=120)
    assert delivery.deliver(event.pk) is None  # not due yet
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert delivery.deliver(event.pk) is None  # every worker is paused for Retry-After
    event.refresh_from_db()
    assert event.attempts == 1 and event.next_attempt_at >= before + timedelta(seconds=119)
    throttle.reset()
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert delivery.deliver(event.pk) is Verdict.DELIVERED
    assert [a.status_code for a in Attempt.objects.filter(event=event)] == [429, 200]
    assert sandbox.delivered_keys() == {event.message_id: 1}


@pytest.mark.parametrize("status", [500, 503, 408, 409, 425])
def test_transient_answers_are_retried(sandbox: Sandbox, status: int) -> None:
    sandbox.script(Answer(status=status))
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.RETRY
    event.refresh_from_db()
    assert event.status == Status.PENDING and event.attempts == 1
    assert Attempt.objects.get(event=event).error_class == f"HTTP {status}"


def test_read_timeout_is_retried(sandbox: Sandbox, seg_settings: Any) -> None:
    seg_settings.SEG_READ_TIMEOUT = 0.3
    sandbox.script(Answer(delay=1.0))
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.RETRY
    assert Attempt.objects.get(event=event).error_class == "ReadTimeout"


def test_refused_connection_is_retried(seg_settings: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    seg_settings.SEG_TRACKER_URL = f"http://127.0.0.1:{port}"
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.RETRY
    assert Attempt.objects.get(event=event).error_class == "ConnectionError"


def test_fails_once_the_retry_window_is_spent(sandbox: Sandbox, seg_settings: Any) -> None:
    seg_settings.SEG_RETRY_WINDOW = 1
    sandbox.script(default=Answer(status=503, headers={"Retry-After": "5"}))
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.FAILED
    event.refresh_from_db()
    assert event.status == Status.FAILED and event.status_reason == "Retries ran out."


def test_fails_after_max_attempts(sandbox: Sandbox, seg_settings: Any) -> None:
    seg_settings.SEG_MAX_ATTEMPTS = 3
    sandbox.script(default=Answer(status=500))
    event = order_event()
    verdicts = []
    for _ in range(3):
        throttle.reset()  # 500s count towards the breaker; this test is about attempts
        Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
        verdicts.append(delivery.deliver(event.pk))
    assert verdicts == [Verdict.RETRY, Verdict.RETRY, Verdict.FAILED]


def test_lapsed_lease_lets_another_worker_take_over(sandbox: Sandbox) -> None:
    event = order_event()
    now = timezone.now()
    assert delivery.claim(event.pk, now) == delivery.Claim(1, 1, event)  # then it dies
    later = now + timedelta(seconds=61)
    assert delivery.claim(event.pk, later) == delivery.Claim(2, 2, event)
    event.refresh_from_db()
    assert event.status == Status.SENDING and event.attempts == 2


def test_late_finish_does_not_overwrite_the_new_holder(sandbox: Sandbox) -> None:
    event = order_event()
    now = timezone.now()
    delivery.claim(event.pk, now)
    delivery.claim(event.pk, now + timedelta(seconds=61))
    stale = delivery.Answer(Verdict.FAILED, 400, "", "HTTP 400", "HTTP 400", None, 1.0)
    delivery.record(event, delivery.Claim(1, 1, event), "u", now, stale)
    event.refresh_from_db()
    assert event.status == Status.SENDING  # attempt 2 still holds it
    assert Attempt.objects.filter(event=event, number=1).exists()


def test_a_retry_gives_a_fresh_budget_and_numbering_goes_on(
    sandbox: Sandbox, seg_settings: Any
) -> None:
    seg_settings.SEG_MAX_ATTEMPTS = 2
    sandbox.script(Answer(status=500), Answer(status=500))
    event = order_event()
    for _ in range(2):
        throttle.reset()
        Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
        delivery.deliver(event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts, event.tries) == (Status.FAILED, 2, 2)
    throttle.reset()
    assert operations.retry(Event.objects.filter(pk=event.pk), "ops") == 1
    assert delivery.deliver(event.pk) is Verdict.DELIVERED
    event.refresh_from_db()
    assert (event.attempts, event.tries) == (3, 1)
    numbers = list(Attempt.objects.filter(event=event).values_list("number", flat=True))
    assert numbers == [1, 2, 3]
