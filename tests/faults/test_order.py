"""Seg refusing one customer's first event: that customer's later events wait for it, in the
shop's order, while another customer's events go on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integrations.dev.sandbox import Answer, Sandbox
from integrations.ingest import ingest
from integrations.models import Attempt, Event

from .helpers import duplicates, wait_delivered

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def visit(tag: str) -> list[dict[str, Any]]:
    """A shopping visit, in the shop's order: browsing while anonymous (held), identify,
    more browsing, an order. Sent as Segment's clients send it, a call at a time."""
    anonymous, email = f"visitor-{tag}", f"ann-{tag}@example.com"
    calls: list[dict[str, Any]] = [
        {"type": "track", "event": "Viewed Product Category", "properties": {"category": "Shoes"}},
        {"type": "track", "event": "Product Viewed", "properties": {"id": "p-1"}},
        {"type": "identify", "userId": f"u-{tag}", "traits": {"email": email}},
        {"type": "track", "event": "Product Added", "properties": {"id": "p-1", "price": 19}},
        {"type": "page", "name": "Basket", "properties": {"url": "https://shop.example/basket"}},
        {"type": "track", "event": "Order Completed", "properties": {"orderId": f"o-{tag}"}},
    ]
    return [
        call | {"anonymousId": anonymous, "messageId": f"{tag}-{i}", "timestamp": at(i)}
        for i, call in enumerate(calls)
    ]


def browsing(tag: str, count: int) -> list[dict[str, Any]]:
    """Another customer, known by email, viewing products."""
    return [
        {
            "type": "track",
            "event": "Product Viewed",
            "userId": f"bob-{tag}",
            "messageId": f"{tag}-bob-{i}",
            "timestamp": at(i),
            "properties": {"id": f"p-{i}"},
            "context": {"traits": {"email": f"bob-{tag}@example.com"}},
        }
        for i in range(count)
    ]


def at(minute: int) -> str:
    return (T0 + timedelta(minutes=minute)).isoformat()


def test_a_customers_events_wait_for_their_first_while_seg_refuses_it(
    sandbox: Sandbox, start_worker: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    ann, bob = visit(tag), browsing(tag, 12)
    first = str(ann[0]["messageId"])
    refused = 3
    sandbox.script_key(first, *[Answer(status=503, headers={"Retry-After": "1"})] * refused)
    # No beat: nothing but the wake-ups (ingest's, a retry's countdown, and the
    # one each outcome sends to the customer's next event) moves the events on.
    start_worker(concurrency=4)
    # The visitor browses anonymously, then the two customers' calls interleave.
    for message in ann[:2]:
        assert ingest([message]).stored == 1
    for message in [*ann[2:], *bob[:6]]:
        assert ingest([message]).stored == 1
    for message in bob[6:]:
        assert ingest([message]).stored == 1
    ids = [str(m["messageId"]) for m in ann + bob]
    keys = wait_delivered(sandbox, ids, timeout=90)
    assert duplicates(keys) == 0
    assert Attempt.objects.filter(event__message_id=first, status_code=503).count() == refused
    seen = [r.headers["Idempotency-Key"] for r in sandbox.snapshot()]
    first_delivered = len(seen) - 1 - seen[::-1].index(first)
    for message in ann[1:]:
        # Every later event of the customer reached Seg only after the first was delivered.
        assert seen.index(str(message["messageId"])) > first_delivered
    delivered = [key for key in seen if key.startswith(tag) and "-bob-" not in key]
    assert delivered == [first] * (refused + 1) + [str(m["messageId"]) for m in ann[1:]]
    bobs = [key for key in seen if "-bob-" in key]
    assert bobs == [str(m["messageId"]) for m in bob]
    # The other customer was not held up: some of his went out while Seg refused hers.
    assert any(seen.index(key) < first_delivered for key in bobs)
    assert Event.objects.filter(message_id__in=ids, attempts__gt=1).count() == 1
