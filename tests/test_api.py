"""The Python API writes in the caller's transaction and queues only after commit."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations import api, instruments
from integrations.exceptions import InvalidMessage
from integrations.models import Event

pytestmark = pytest.mark.django_db


def test_rolled_back_order_leaves_no_event(django_capture_on_commit_callbacks: Any) -> None:
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        api.track(
            "u1", "Order Completed", {"orderId": "o1"}, context={"traits": {"email": "a@b.co"}}
        )
        raise RuntimeError("payment failed")
    assert not Event.objects.exists()
    assert callbacks == []


def test_committed_event_is_queued_after_commit(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        message_id = api.track(
            "u1", "Order Completed", {"orderId": "o1"}, context={"traits": {"email": "a@b.co"}}
        )
    assert Event.objects.get(message_id=message_id).status == "pending"
    # Its wake-up; and its count (instruments.received), once it is stored for good.
    assert len(callbacks) == 2
    assert [c.func for c in callbacks].count(instruments.received) == 1


def test_adds_one_insert_to_the_shops_transaction() -> None:
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        api.track(
            "u1", "Order Completed", {"orderId": "o1"}, context={"traits": {"email": "a@b.co"}}
        )
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert len([w for w in writes if w.lstrip().upper().startswith("INSERT")]) == 1
    assert not [w for w in writes if "SAVEPOINT" in w.upper()]


def test_invalid_call_raises_naming_the_field() -> None:
    with pytest.raises(InvalidMessage) as caught:
        api.track(event="Order Completed")
    assert caught.value.field == "userId"
