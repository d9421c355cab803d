"""Helpers for the fault suite: make events, send them, and check what Seg got."""

from __future__ import annotations

import uuid
from collections import Counter

import requests

from integrations.dev import Sandbox
from integrations.ingest import ingest
from integrations.models import Event, Status

from ..conftest import WRITE_KEY, wait_until


def messages(count: int, prefix: str) -> list[dict[str, object]]:
    tag = uuid.uuid4().hex[:8]
    return [
        {
            "type": "track",
            "messageId": f"{prefix}-{tag}-{i}",
            "userId": f"user-{i % 50}",
            "event": "Order Completed" if i % 5 == 0 else "Product Viewed",
            "properties": {"orderId": f"o-{i}", "id": f"p-{i}", "total": i},
            "context": {"traits": {"email": f"customer{i % 50}@example.com"}},
        }
        for i in range(count)
    ]


def store(count: int, prefix: str) -> list[str]:
    """Store events through the app's own ingest path; their messageIds."""
    batch = messages(count, prefix)
    result = ingest(batch)
    assert result.stored == count and not result.errors
    return [str(m["messageId"]) for m in batch]


def post_batches(base_url: str, batch: list[dict[str, object]], size: int = 100) -> list[str]:
    """POST in batches like Segment's clients; the messageIds answered 200."""
    accepted: list[str] = []
    with requests.Session() as session:
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            response = session.post(
                f"{base_url}/seg/v1/batch", json={"batch": chunk}, auth=(WRITE_KEY, ""), timeout=30
            )
            if response.status_code == 200:
                accepted += [str(m["messageId"]) for m in chunk]
    return accepted


def wait_delivered(sandbox: Sandbox, message_ids: list[str], timeout: float = 120) -> Counter[str]:
    """Wait until Seg acknowledged every event and the rows say delivered."""
    wanted = set(message_ids)

    def done() -> bool:
        return wanted <= set(sandbox.delivered_keys()) and (
            Event.objects.filter(message_id__in=message_ids, status=Status.DELIVERED).count()
            == len(wanted)
        )

    try:
        wait_until(done, timeout=timeout, every=0.25)
    except AssertionError:
        missing = wanted - set(sandbox.delivered_keys())
        states = Counter(
            Event.objects.filter(message_id__in=message_ids).values_list("status", flat=True)
        )
        raise AssertionError(f"{len(missing)} never reached Seg; rows: {dict(states)}") from None
    return sandbox.delivered_keys()


def duplicates(keys: Counter[str]) -> int:
    """Second (and later) 2xx answers for one Idempotency-Key."""
    return sum(count - 1 for count in keys.values() if count > 1)


def store_orders(count: int, prefix: str) -> list[str]:
    """Store ``count`` orders, each of its own customer (none waits on another);
    their messageIds, ``<prefix>-…``."""
    tag = uuid.uuid4().hex[:8]
    batch: list[dict[str, object]] = [
        {
            "type": "track",
            "messageId": f"{prefix}-{tag}-{i}",
            "userId": f"buyer-{tag}-{i}",
            "event": "Order Completed",
            "properties": {"orderId": f"o-{tag}-{i}", "total": 30},
            "context": {"traits": {"email": f"buyer{i}-{tag}@example.com"}},
        }
        for i in range(count)
    ]
    result = ingest(batch)
    assert result.stored == count and not result.errors
    return [str(m["messageId"]) for m in batch]
