"""The ingestion endpoint: Segment's HTTP API, its auth, limits and answers."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from django.test import Client

from integrations.models import Event, Status

from .conftest import WRITE_KEY

pytestmark = pytest.mark.django_db


def auth(key: str = WRITE_KEY) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def post(client: Client, path: str, body: Any, **extra: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body)
    extra.setdefault("content_type", "application/json")
    return client.post(f"/seg/v1/{path}", data=data, **extra)


ORDER = {
    "userId": "u1",
    "event": "Order Completed",
    "messageId": "order-1",
    "properties": {"orderId": "50314b8e", "total": 30},
    "context": {"traits": {"email": "ann@example.com"}},
}


def test_track_is_stored_with_its_mapping(client: Client) -> None:
    response = post(client, "track", ORDER, **auth())
    assert response.status_code == 200
    assert response.json() == {"success": True}
    event = Event.objects.get(message_id="order-1")
    assert event.status == Status.PENDING
    assert (event.action, event.seg_event, event.order_id) == (
        "order-placed",
        "OrderPlaced",
        "50314b8e",
    )
    assert event.email == "ann@example.com"
    assert event.message == ORDER
    assert event.payload["Total"] == 30 and event.payload["Email"] == "ann@example.com"
    assert event.next_attempt_at is not None


@pytest.mark.parametrize("path", ["t", "track"])
def test_write_key_in_body_is_accepted_and_not_stored(client: Client, path: str) -> None:
    response = post(client, path, ORDER | {"writeKey": "second-key"})
    assert response.status_code == 200
    assert "writeKey" not in Event.objects.get().message


@pytest.mark.parametrize(
    "extra",
    [{}, auth("wrong"), {"HTTP_AUTHORIZATION": "Bearer x"}, {"HTTP_AUTHORIZATION": "Basic !!"}],
)
def test_missing_or_wrong_key_is_401(client: Client, extra: dict[str, str]) -> None:
    response = post(client, "track", ORDER, **extra)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert not Event.objects.exists()


def test_text_plain_and_gzip_bodies(client: Client) -> None:
    assert post(client, "t", ORDER, content_type="text/plain", **auth()).status_code == 200
    zipped = gzip.compress(json.dumps(ORDER | {"messageId": "order-2"}).encode())
    response = post(client, "track", zipped, HTTP_CONTENT_ENCODING="gzip", **auth())
    assert response.status_code == 200
    assert Event.objects.count() == 2


def test_repeated_message_id_is_acknowledged_once(client: Client) -> None:
    assert post(client, "track", ORDER, **auth()).status_code == 200
    changed = ORDER | {"properties": {"orderId": "other", "total": 1}}
    assert post(client, "track", changed, **auth()).status_code == 200
    assert Event.objects.get().order_id == "50314b8e"


def test_batch_keeps_good_messages_and_lists_bad_ones(client: Client) -> None:
    batch = {
        "batch": [
            {"type": "identify", "userId": "u1", "traits": {"email": "ann@example.com"}},
            {"type": "track", "userId": "u1"},
            {
                "type": "track",
                "userId": "u1",
                "event": "Product Viewed",
                "properties": {"id": "p1"},
            },
            "nonsense",
            {"type": "page", "anonymousId": "a9", "name": "Home"},
        ],
        "context": {"library": {"name": "analytics-python"}},
    }
    response = post(client, "b", batch, **auth())
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "event"), (3, None)]
    statuses = dict(Event.objects.values_list("call_type", "status"))
    assert statuses == {"identify": "pending", "track": "pending", "page": "held"}
    product = Event.objects.get(call_type="track")
    assert product.email == "ann@example.com"
    assert product.message["context"]["library"]["name"] == "analytics-python"


def test_batch_of_only_bad_messages_is_400(client: Client) -> None:
    response = post(client, "batch", {"batch": [{"type": "track"}]}, **auth())
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "userId"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_request"),
        (b"[1, 2]", 400, "invalid_request"),
        (b"\xff\xfe", 400, "invalid_request"),
        (json.dumps({"batch": {"a": 1}}).encode(), 400, "invalid_request"),
        (json.dumps({"batch": [{}] * 2501}).encode(), 413, "payload_too_large"),
        (json.dumps({"batch": [], "pad": "x" * 600_000}).encode(), 413, "payload_too_large"),
    ],
)
def test_bad_bodies(client: Client, body: bytes, status: int, code: str) -> None:
    response = post(client, "batch", body, **auth())
    assert response.status_code == status
    assert response.json()["code"] == code


def test_single_message_over_32kb_is_413(client: Client) -> None:
    big = ORDER | {"properties": {"blob": "x" * 33_000}}
    response = post(client, "track", big, **auth())
    assert response.status_code == 413
    assert not Event.objects.exists()


def test_error_names_the_field(client: Client) -> None:
    response = post(client, "track", {"userId": "u1", "event": 5}, **auth())
    assert response.status_code == 400
    assert response.json()["field"] == "event"
    assert "event" in response.json()["message"]


def test_unmapped_and_alias_without_emails_are_stored_as_ignored(client: Client) -> None:
    post(
        client, "track", {"userId": "u1", "event": "Checkout Started", "messageId": "x1"}, **auth()
    )
    post(client, "alias", {"previousId": "anon", "userId": "u1", "messageId": "x2"}, **auth())
    rows = dict(Event.objects.values_list("message_id", "status"))
    assert rows == {"x1": Status.IGNORED, "x2": Status.IGNORED}
    assert "Checkout Started" in Event.objects.get(message_id="x1").status_reason


def test_get_is_refused_and_options_allows_cors(client: Client) -> None:
    assert client.get("/seg/v1/track").status_code == 405
    response = client.options("/seg/v1/track")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"


def test_falsy_message_ids_still_deduplicate(client: Client) -> None:
    for _ in range(2):
        body = {"userId": "u1", "event": "Order Completed", "messageId": 0}
        assert post(client, "track", body, **auth()).status_code == 200
    assert Event.objects.get().message_id == "0"
