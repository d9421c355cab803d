"""The same thing, sent another way, reads the same: device clocks, ids as numbers, odd
spaces in names, analytics-ruby's /v1/import, and paths that are no endpoint."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from integrations import api
from integrations.core import event_time, validate
from integrations.core.naming import SegEvent, seg_event_for
from integrations.core.values import js_number
from integrations.models import Event, Status

from .conftest import WRITE_KEY

pytestmark = pytest.mark.django_db

AUTH: dict[str, Any] = {
    "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
}


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(
        f"/seg/v1/{path}", data=json.dumps(body), content_type="application/json", **AUTH
    )


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- device clocks ----------------------------------------------------------------------
BUDDHIST = timedelta(days=543 * 365 + 132)  # the Buddhist calendar's year 2568 for 2025


@pytest.mark.parametrize("skew", [BUDDHIST, -timedelta(days=20_000)], ids=["2568", "1970"])
def test_a_batchs_sent_at_corrects_a_device_clock(client: Client, skew: timedelta) -> None:
    now = timezone.now()
    happened = now - timedelta(minutes=3)
    order = {
        "type": "track",
        "userId": "u1",
        "event": "Order Completed",
        "messageId": "clock-1",
        "timestamp": iso(happened + skew),
        "properties": {"order_id": "R1"},
        "context": {"traits": {"email": "ann@example.com"}},
    }
    assert post(client, "batch", {"batch": [order], "sentAt": iso(now + skew)}).status_code == 200
    event = Event.objects.get(message_id="clock-1")
    assert abs(event.timestamp - happened) < timedelta(seconds=30)
    assert event.payload["Date"][:4] == str(happened.year)
    assert event.message["timestamp"] == order["timestamp"]  # kept as sent
    assert any("clock was off" in warning for warning in event.warnings)


def test_analytics_js_sent_at_on_the_message_corrects_it_too() -> None:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    message = validate(
        {
            "type": "page",
            "anonymousId": "a",
            "originalTimestamp": "2569-12-05T11:59:00Z",
            "sentAt": "2569-12-05T12:00:00Z",
        }
    )
    assert event_time(message, now) == now - timedelta(minutes=1)


def test_a_time_still_in_the_future_takes_the_receipt_time(client: Client) -> None:
    future = iso(timezone.now() + timedelta(days=365 * 543))
    body = {"userId": "u1", "event": "Product Viewed", "messageId": "f-1", "timestamp": future}
    assert post(client, "track", body).status_code == 200
    event = Event.objects.get(message_id="f-1")
    assert event.timestamp == event.received_at
    assert any("future" in warning for warning in event.warnings)


def test_per_customer_order_follows_the_corrected_time(client: Client) -> None:
    """A fast device's later event must not sort before the server's earlier one."""
    now = timezone.now()
    email = {"traits": {"email": "ann@example.com"}}
    api.track("u1", "Product Added", {"product_id": "p"}, context=email, message_id="server-1")
    page = {
        "type": "track",
        "userId": "u1",
        "event": "Order Completed",
        "messageId": "device-1",
        "timestamp": iso(now + BUDDHIST),
        "sentAt": iso(now + BUDDHIST),
        "context": email,
    }
    assert post(client, "batch", {"batch": [page]}).status_code == 200
    ordered = Event.objects.order_by("timestamp", "id").values_list("message_id", flat=True)
    assert list(ordered) == ["server-1", "device-1"]


# --- ids sent as numbers ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "text"),
    [
        (4211.0, "4211"),
        (4211, "4211"),
        (1e16, "10000000000000000"),
        (0.5, "0.5"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (-2.0, "-2"),
        (123456789.125, "123456789.125"),
    ],
)
def test_a_number_reads_as_javascript_prints_it(number: float, text: str) -> None:
    assert js_number(number) == text


@pytest.mark.parametrize("user_id", [4211.0, 4211, "4211"])
def test_a_float_user_id_is_the_same_customer(client: Client, user_id: Any) -> None:
    api.track("4211", "Product Added", {"product_id": 7.0})  # held: nobody known yet
    body = {"userId": user_id, "traits": {"email": "pandas@example.com"}, "messageId": "id-1"}
    assert post(client, "identify", body).status_code == 200
    held = Event.objects.get(call_type="track")
    assert (held.status, held.email, held.user_id) == (Status.PENDING, "pandas@example.com", "4211")


# --- odd spaces in names ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("Order Completed\u00a0", SegEvent.ORDER_PLACED),
        ("Order  Completed", SegEvent.ORDER_PLACED),
        ("\tOrder\u2003Completed\n", SegEvent.ORDER_PLACED),
        ("Product\u00a0Viewed", SegEvent.PRODUCT_VIEW),
        ("Product\u202fList Viewed", SegEvent.RANGE_VIEW),
        ("Order Completed Twice", None),
    ],
)
def test_any_run_of_unicode_whitespace_separates_words(name: str, event: SegEvent | None) -> None:
    assert seg_event_for(name) == event


def test_an_order_named_with_a_no_break_space_reaches_seg(client: Client) -> None:
    body = {
        "userId": "u1",
        "event": "Order Completed\u00a0",
        "messageId": "nbsp-1",
        "properties": {"order_id": "R1", "total": 5},
        "context": {"traits": {"email": "ann@example.com"}},
    }
    assert post(client, "track", body).status_code == 200
    event = Event.objects.get(message_id="nbsp-1")
    assert (event.status, event.seg_event) == (Status.PENDING, SegEvent.ORDER_PLACED)


# --- paths ----------------------------------------------------------------------------------
def test_analytics_ruby_posts_its_batches_to_import(client: Client) -> None:
    body = {
        "batch": [
            {"type": "identify", "userId": "r1", "traits": {"email": "ruby@example.com"}},
            {"type": "track", "userId": "r1", "event": "Order Completed", "messageId": "rb-1"},
        ],
        "sentAt": iso(timezone.now()),
    }
    answer = post(client, "import", body)
    assert answer.status_code == 200 and answer.json() == {"success": True}
    assert Event.objects.get(message_id="rb-1").email == "ruby@example.com"


@pytest.mark.parametrize("path", ["/seg/v1/nothing", "/seg/v2/batch", "/seg/", "/seg/x/y.js"])
def test_every_other_path_under_the_mount_answers_json(client: Client, path: str) -> None:
    for answer in (client.get(path), client.post(path, data="{}", content_type="application/json")):
        assert answer.status_code == 404
        assert answer["Content-Type"] == "application/json"
        assert answer.json()["success"] is False


def test_a_number_with_an_absurd_exponent_is_left_out_not_the_event(client: Client) -> None:
    body = {
        "userId": "u1",
        "event": "Order Completed",
        "messageId": "exp-1",
        "properties": {"order_id": "R1", "total": "1e999999999", "tax": "-1e999999999"},
        "context": {"traits": {"email": "ann@example.com"}},
    }
    assert post(client, "track", body).status_code == 200
    event = Event.objects.get(message_id="exp-1")
    assert event.status == Status.PENDING and "Total" not in event.payload
    assert any("is not a number" in warning for warning in event.warnings)


@pytest.mark.parametrize("name", ["%00.js", "a%00b.js", "..%2f..%2fsecret.js"])
def test_a_chunk_name_no_file_can_have_is_404_not_500(client: Client, name: str) -> None:
    assert client.get(f"/seg/analytics-next/bundles/{name}").status_code == 404
