"""What real clients send is stored: PHP's empty objects, byte order marks, odd
times and numbers. Each kind is a table; the fuzzers in tests/faults generate them."""

from __future__ import annotations

import base64
import codecs
import gzip
import json
from typing import Any

import pytest
from django.test import Client

from integrations.core.spec import CONTEXT_OBJECTS
from integrations.models import Event, Status

from .conftest import WRITE_KEY

pytestmark = pytest.mark.django_db

AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}

ORDER: dict[str, Any] = {
    "type": "track",
    "userId": "ann@example.com",
    "event": "Order Completed",
    "properties": {"orderId": "o-1", "total": 30},
}
IDENTIFY: dict[str, Any] = {
    "type": "identify",
    "userId": "u1",
    "traits": {"email": "ann@example.com", "name": "Ann Smith"},
}


def post(client: Client, path: str, body: bytes | dict[str, Any], **extra: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    extra.setdefault("content_type", "application/json")
    return client.post(f"/seg/v1/{path}", data=data, **(AUTH | extra))


# --- PHP's empty object: [] where the spec wants {} ---------------------------

EMPTY_LIST_FIELDS = [
    ("track", {**ORDER, "properties": []}),
    ("track", {**ORDER, "context": []}),
    ("track", {**ORDER, "integrations": []}),
    ("identify", {**IDENTIFY, "context": [], "integrations": []}),
    ("identify", {"type": "identify", "userId": "ann@example.com", "traits": []}),
    ("page", {"type": "page", "userId": "ann@example.com", "properties": [], "context": []}),
    ("alias", {"type": "alias", "previousId": "a@x.io", "userId": "b@x.io", "context": []}),
] + [("track", {**ORDER, "context": {key: []}}) for key in sorted(CONTEXT_OBJECTS)]


@pytest.mark.parametrize(("call", "message"), EMPTY_LIST_FIELDS)
def test_an_empty_list_reads_as_an_empty_object(
    client: Client, call: str, message: dict[str, Any]
) -> None:
    response = post(client, call, message)
    assert response.status_code == 200, response.content
    event = Event.objects.get()
    assert event.message == message  # stored as the shop sent it
    assert event.status in (Status.PENDING, Status.IGNORED)


@pytest.mark.parametrize(("call", "message"), EMPTY_LIST_FIELDS)
def test_an_empty_list_reads_as_an_empty_object_in_a_batch(
    client: Client, call: str, message: dict[str, Any]
) -> None:
    body = {"batch": [message | {"type": call}], "context": [], "integrations": []}
    response = post(client, "batch", body)
    assert response.status_code == 200, response.content
    assert "errors" not in response.json()
    assert Event.objects.count() == 1


def test_a_batch_whose_only_order_has_an_empty_context_delivers_it(client: Client) -> None:
    response = post(client, "batch", {"batch": [ORDER | {"context": []}]})
    assert response.status_code == 200
    event = Event.objects.get()
    assert (event.status, event.seg_event) == (Status.PENDING, "OrderPlaced")
    assert event.payload["Total"] == 30 and event.payload["Email"] == "ann@example.com"


def test_context_traits_as_an_empty_list_still_finds_the_email_elsewhere(
    client: Client,
) -> None:
    message = ORDER | {"userId": "u9", "context": {"traits": []}}
    post(client, "identify", IDENTIFY | {"userId": "u9"})
    assert post(client, "track", message).status_code == 200
    assert Event.objects.get(seg_event="OrderPlaced").email == "ann@example.com"


@pytest.mark.parametrize("field", ["traits", "properties", "context", "integrations"])
def test_a_list_that_is_not_empty_is_still_refused_by_name(client: Client, field: str) -> None:
    response = post(client, "track", ORDER | {field: [1]})
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert not Event.objects.exists()


# --- Byte order marks ---------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("zipped", [False, True])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_byte_order_mark_is_ignored(
    client: Client, codec: str, zipped: bool, content_type: str
) -> None:
    text = json.dumps({"batch": [ORDER, IDENTIFY]}, ensure_ascii=False)
    raw = text.encode(codec)
    if codec in ("utf-16-le", "utf-16-be"):
        raw = (codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE) + raw
    extra = {"HTTP_CONTENT_ENCODING": "gzip"} if zipped else {}
    body = gzip.compress(raw) if zipped else raw
    response = post(client, "batch", body, content_type=content_type, **extra)
    assert response.status_code == 200, response.content
    assert Event.objects.count() == 2


# --- Times: every value stored; an unusable one gets the receipt time ---------

UNUSABLE_TIMES = [
    "0001-01-01T00:00:00+01:00",  # an unset .NET DateTime with a local offset
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.9999999Z",
    "2026-13-01T00:00:00Z",
    "yesterday",
    "",
    12,
    1.7e308,
    True,
    {"seconds": 1},
    ["2026-11-28T10:00:00Z"],
]


@pytest.mark.parametrize("value", UNUSABLE_TIMES)
@pytest.mark.parametrize("key", ["timestamp", "originalTimestamp"])
def test_an_unusable_time_is_stored_with_a_warning_and_the_receipt_time(
    client: Client, key: str, value: Any
) -> None:
    response = post(client, "track", ORDER | {key: value})
    assert response.status_code == 200, response.content
    event = Event.objects.get()
    assert event.timestamp == event.received_at
    stored = event.message[key]
    # PostgreSQL's jsonb keeps a number as a numeric: 1.7e308 comes back as an int.
    assert stored == value or (isinstance(value, float) and float(stored) == value)
    if value != "":
        assert any(warning.startswith(key) for warning in event.warnings)


def test_a_batch_with_an_overflowing_time_keeps_every_message(client: Client) -> None:
    body = {
        "batch": [
            IDENTIFY,
            ORDER | {"timestamp": "0001-01-01T00:00:00+01:00"},
            ORDER | {"timestamp": "9999-12-31T23:59:59-01:00", "properties": {"orderId": "o-2"}},
        ]
    }
    response = post(client, "batch", body)
    assert response.status_code == 200 and "errors" not in response.json()
    assert sorted(Event.objects.values_list("seg_event", flat=True)) == [
        "",
        "OrderPlaced",
        "OrderPlaced",
    ]


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("2026-11-28T10:00:00.123456789Z", "2026-11-28T10:00:00.123Z"),  # Go's RFC3339Nano
        ("2026-11-28T11:00:00.1234567+01:00", "2026-11-28T10:00:00.123Z"),  # .NET's "o"
        ("2026-11-28T23:00:00-11:00", "2026-11-29T10:00:00.000Z"),
        ("0001-01-02T00:00:00Z", "0001-01-02T00:00:00.000Z"),
    ],
)
def test_usable_times_are_read_in_utc(client: Client, value: str, read: str) -> None:
    assert post(client, "track", ORDER | {"timestamp": value}).status_code == 200
    event = Event.objects.get()
    assert event.payload["Date"] == read and event.warnings == []


# --- Numbers over the whole range: stored; one that cannot be read is left out


@pytest.mark.parametrize(
    "literal",
    [
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"1e999",
        b"-1e400",
        b"9" * 5000,
        b"1" + b"0" * 400,  # an integer JSON keeps, a double does not
        b'"1e999"',
        b'"NaN"',
        b'"1.8e308"',
        b'"1_000"',  # Decimal reads it; JSON would not
        '"\u0661\u0669"'.encode(),  # digits of another script
    ],
)
def test_a_number_past_what_a_double_holds_is_stored_and_left_out_with_a_warning(
    client: Client, literal: bytes
) -> None:
    body = (
        b'{"batch": [{"type": "track", "userId": "ann@example.com", "event": "Order Completed",'
        b' "properties": {"orderId": "o-1", "total": ' + literal + b', "tax": 2}}]}'
    )
    response = post(client, "batch", body)
    assert response.status_code == 200, response.content
    event = Event.objects.get()
    assert event.status == Status.PENDING
    assert "Total" not in event.payload and event.payload["Tax"] == 2
    assert any(w.startswith("properties.total") for w in event.warnings)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1e308", 10**308),
        ("-1.5e2", -150),
        ("19.99", 19.99),
        ("0.000001", 1e-06),
        ("1e-400", 0.0),
        (str(2**80), 2**80),
    ],
)
def test_numeric_strings_over_the_range(client: Client, text: str, number: float) -> None:
    order = ORDER | {"properties": {"orderId": "o-1", "total": text}}
    assert post(client, "track", order).status_code == 200
    assert Event.objects.get().payload["Total"] == number


def test_a_message_id_outside_ascii_is_stored_as_sent(client: Client) -> None:
    assert post(client, "track", ORDER | {"messageId": "注文-0001"}).status_code == 200
    event = Event.objects.get()
    assert event.message_id == "注文-0001" and event.payload["MessageId"] == "注文-0001"


def test_a_php_list_written_as_an_object_is_read_as_a_list(client: Client) -> None:
    # PHP's json_encode of array(0 => ..., 2 => ...) after array_filter.
    properties = {
        "orderId": "o-1",
        "products": {"2": {"id": "p-2"}, "0": {"id": "p-0"}, "10": {"id": "p-10"}},
        "categories": {"0": "shoes", "1": "boots"},
    }
    assert post(client, "track", ORDER | {"properties": properties}).status_code == 200
    payload = Event.objects.get().payload
    assert [line["Id"] for line in payload["OrderLines"]] == ["p-0", "p-2", "p-10"]
    assert payload["Categories"] == ["shoes", "boots"]


def test_a_php_list_with_a_key_longer_than_python_converts_is_stored(client: Client) -> None:
    huge = "9" * 4400
    body = {
        "batch": [
            ORDER | {"messageId": "good"},
            ORDER
            | {
                "messageId": "odd",
                "properties": {"orderId": "o-2", "categories": {"0": "x", huge: "y"}},
            },
        ]
    }
    response = post(client, "batch", body)
    assert response.status_code == 200 and "errors" not in response.json()
    assert Event.objects.get(message_id="odd").payload["Categories"] == ["x", "y"]
    assert Event.objects.get(message_id="good").status == Status.PENDING


@pytest.mark.parametrize("quantity", ["3 pcs", True, [], {}, "NaN"])
def test_an_unreadable_quantity_is_left_out_not_sent_as_one(client: Client, quantity: Any) -> None:
    properties = {"orderId": "o-1", "products": [{"id": "p", "quantity": quantity}]}
    assert post(client, "track", ORDER | {"properties": properties}).status_code == 200
    event = Event.objects.get()
    assert "Quantity" not in event.payload["OrderLines"][0]
    assert any("quantity" in warning for warning in event.warnings)


def test_an_absent_quantity_is_one(client: Client) -> None:
    properties = {"orderId": "o-1", "products": [{"id": "p"}]}
    assert post(client, "track", ORDER | {"properties": properties}).status_code == 200
    assert Event.objects.get().payload["OrderLines"][0]["Quantity"] == 1


@pytest.mark.parametrize(
    "authorization", ["Basic \u00e9", "Basic \u00e9" * 4, "Basic ====", "Basic"]
)
def test_a_malformed_authorization_header_is_a_401(client: Client, authorization: str) -> None:
    response = client.post(
        "/seg/v1/track",
        data=json.dumps(ORDER),
        content_type="application/json",
        HTTP_AUTHORIZATION=authorization,
    )
    assert response.status_code == 401


def test_a_write_key_that_is_not_valid_unicode_is_a_401(client: Client) -> None:
    body = b'{"writeKey": "\\ud800", "type": "track", "userId": "u", "event": "x"}'
    response = client.post("/seg/v1/track", data=body, content_type="application/json")
    assert response.status_code == 401
