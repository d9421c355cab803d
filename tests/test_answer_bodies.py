"""Seg's status line decides; its body is read with a bound, by a deadline, and only noted.

A real local server plays Seg and sends what a broken proxy or a slow Seg would:
a body labelled gzip that is not, a body cut short, an answer a byte at a time.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from integrations import api
from integrations.core import Verdict
from integrations.delivery import loop as delivery
from integrations.dev.sandbox import Answer, Sandbox
from integrations.models import Attempt, Event, Status

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

NOT_GZIP = {"Content-Encoding": "gzip"}  # over a plain JSON body
QUEUED = {"success": True, "queued": "order-placed"}


def order_event() -> Event:
    message_id = api.track(
        "u1",
        "Order Completed",
        {"orderId": "o-1", "total": 30},
        context={"traits": {"email": f"c-{uuid.uuid4().hex[:12]}@b.co"}},
    )
    return Event.objects.get(message_id=message_id)


@pytest.mark.parametrize(
    ("answer", "verdict", "note"),
    [
        (Answer(status=200, headers=NOT_GZIP), Verdict.DELIVERED, "gzip"),
        (Answer(status=200, body=QUEUED, cut_after=17), Verdict.DELIVERED, "cut short"),
        (Answer(status=201, body=b"x" * 300_000, cut_after=17), Verdict.DELIVERED, "cut short"),
        (Answer(status=503, headers=NOT_GZIP | {"Retry-After": "7"}), Verdict.RETRY, "gzip"),
        (Answer(status=500, cut_after=5), Verdict.RETRY, "cut short"),
        (Answer(status=422, headers=NOT_GZIP), Verdict.FAILED, "gzip"),
        (Answer(status=400, cut_after=3), Verdict.FAILED, "cut short"),
    ],
    ids=lambda value: getattr(value, "status", value),
)
def test_the_status_line_decides_whatever_the_body(
    sandbox: Sandbox, answer: Answer, verdict: Verdict, note: str
) -> None:
    sandbox.script(answer, default=Answer())
    event = order_event()
    assert delivery.deliver(event.pk) is verdict
    assert len(sandbox.snapshot()) == 1
    attempt = Attempt.objects.get(event=event)
    assert (attempt.status_code, attempt.verdict) == (answer.status, verdict.value)
    # The body that could not be read is noted on the attempt, beside the status.
    assert note in attempt.error.lower(), attempt.error
    if answer.body == QUEUED:
        assert attempt.response_excerpt == '{"success": true, "queued": "order-placed"}'[:17]
    if answer.status == 503:
        event.refresh_from_db()
        assert event.next_attempt_at is not None and attempt.error_class == "HTTP 503"


@pytest.mark.parametrize(
    ("phase", "verdict"),
    [("status", Verdict.RETRY), ("headers", Verdict.DELIVERED), ("body", Verdict.DELIVERED)],
)
def test_every_post_ends_by_its_deadline_whatever_pace_seg_keeps(
    sandbox: Sandbox, seg_settings: Any, phase: str, verdict: Verdict
) -> None:
    # A byte every 0.25 s keeps each read well inside the read timeout, so only
    # a deadline for the whole exchange ends it. Once the status line is in, a
    # 2xx is a delivery, however little of the rest arrived.
    seg_settings.SEG_READ_TIMEOUT = 1.0
    seg_settings.SEG_POST_DEADLINE = 1.5
    body = {"success": True, "padding": "z" * 40}
    sandbox.script(Answer(body=body, trickle=0.25, trickle_from=phase), default=Answer())
    event = order_event()
    started = time.monotonic()
    assert delivery.deliver(event.pk) is verdict
    took = time.monotonic() - started
    # Not a speed target: at this pace the answer alone would take over 15 s.
    assert took < 6, f"the post took {took:.1f}s"
    attempt = Attempt.objects.get(event=event)
    assert attempt.status_code == (None if phase == "status" else 200)
    assert "deadline" in attempt.error.lower(), attempt.error
    assert attempt.duration_ms < 2500
    event.refresh_from_db()
    assert event.status == (Status.PENDING if verdict is Verdict.RETRY else Status.DELIVERED)
