"""The shop's server's events never wait behind pages': queues, the sweeper, the throttle."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.utils import timezone

from integrations.delivery import outbox, throttle
from integrations.dev import Sandbox
from integrations.ingest import ingest
from integrations.lifecycle import wakeups as dispatch
from integrations.models import Event, Source, Status

from .conftest import wait_until

pytestmark = pytest.mark.django_db


def messages(count: int, prefix: str, event: str = "Product Viewed") -> list[dict[str, Any]]:
    tag = uuid.uuid4().hex[:8]
    return [
        {
            "type": "track",
            "messageId": f"{prefix}-{tag}-{i}",
            "anonymousId": f"{prefix}-visitor-{i % 300}",
            "event": event,
            "properties": {"orderId": f"{prefix}-{i}", "id": f"p-{i}", "total": i},
            "context": {"traits": {"email": f"{prefix}{i % 300}@example.com"}},
        }
        for i in range(count)
    ]


def stored(count: int, source: Source, prefix: str) -> list[int]:
    """Store ``count`` events from ``source`` without publishing (the test's transaction
    never commits); their ids, in order."""
    batch = messages(count, prefix)
    assert ingest(batch, source=source).stored == count
    ids = Event.objects.filter(message_id__in=[m["messageId"] for m in batch]).order_by("id")
    return list(ids.values_list("pk", flat=True))


def queued(broker: redis.Redis, queue: str) -> list[int]:
    """The event ids the wake-ups in ``queue`` carry (fan-outs included)."""
    ids: list[int] = []
    for raw in broker.lrange(queue, 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        ids += [args[0]] if message["headers"]["task"] == dispatch.DELIVER_EVENT else args[0]
    return sorted(ids)


def test_wake_ups_go_to_the_queue_of_their_events_source(broker: redis.Redis) -> None:
    server, browser = stored(3, Source.SERVER, "s"), stored(120, Source.BROWSER, "b")
    assert dispatch.queue([browser[0], server[0], browser[1], server[1]])
    assert dispatch.queue(browser[2:] + server[2:])  # a fan-out of the pages' events
    assert queued(broker, "seg") == sorted(server)
    assert queued(broker, "seg_browser") == sorted(browser)


def test_the_sweeper_queues_the_servers_events_first_each_to_its_queue(
    broker: redis.Redis, seg_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    seg_settings.SEG_SWEEP_BATCH = 5
    now = timezone.now()
    browser = stored(6, Source.BROWSER, "b")  # due first: the older backlog
    server = stored(3, Source.SERVER, "s")
    Event.objects.filter(pk__in=browser).update(enqueued_at=None, next_attempt_at=now)
    later = now + timedelta(seconds=1)
    Event.objects.filter(pk__in=server).update(enqueued_at=None, next_attempt_at=later)
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.sweep(now + timedelta(seconds=2)).queued == 5
    assert queued(broker, "seg") == server
    assert queued(broker, "seg_browser") == browser[:2]


@pytest.mark.redis
def test_pages_take_only_their_share_of_the_cap_and_the_server_the_rest(
    seg_settings: Any,
) -> None:
    seg_settings.SEG_RATE_LIMIT = 10
    seg_settings.SEG_BROWSER_RATE_SHARE = 0.5
    passed = [throttle.gate(browser=True) is None for _ in range(10)]
    assert passed == [True] * 5 + [False] * 5  # the pages' bucket: 5 a second
    wait = throttle.gate(browser=True)
    assert wait is not None and wait.reason is throttle.Reason.RATE
    assert [throttle.gate() is None for _ in range(6)] == [True] * 5 + [False]
    throttle.reset()
    assert [throttle.gate() is None for _ in range(11)] == [True] * 10 + [False]  # all of it


@pytest.mark.django_db(transaction=True)
def test_a_flood_from_pages_does_not_delay_the_servers_orders(
    sandbox: Sandbox, start_worker: Any, broker: redis.Redis
) -> None:
    start_worker(concurrency=2, SEG_RATE_LIMIT="100")
    flood = messages(3000, "flood")
    for start in range(0, len(flood), 10):  # analytics.js's batches, each its own wake-up
        assert ingest(flood[start : start + 10], source=Source.BROWSER).stored == 10
    pages = Event.objects.filter(source=Source.BROWSER)
    wait_until(lambda: pages.filter(status=Status.DELIVERED).exists(), timeout=60)
    orders = messages(20, "order", event="Order Completed")
    for order in orders:  # each its own commit, as a shop's checkout makes them
        assert ingest([order]).stored == 1
        time.sleep(0.05)
    keys = {str(order["messageId"]) for order in orders}
    wait_until(lambda: keys <= set(sandbox.delivered_keys()), timeout=90)
    delivered = pages.filter(status=Status.DELIVERED).count()
    # Every order is in while most of the pages' backlog still waits: the orders
    # did not queue behind it.
    assert delivered < len(flood) / 2, f"{delivered} of the pages' events went first"
