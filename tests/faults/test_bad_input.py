"""Hostile and broken input: every answer is 200, 400, 401 or 413, never 500, and
nothing is half-stored. Also: the database down gives 503, never a false 200."""

from __future__ import annotations

import base64
import gzip
import json
import threading
from datetime import timedelta, timezone
from typing import Any

import pytest
import requests
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.delivery import tracker
from integrations.models import Event, Status

from ..conftest import WRITE_KEY
from .helpers import messages

AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
ALLOWED = {200, 400, 401, 413}
PATHS = ["identify", "track", "page", "alias", "batch", "i", "t", "p", "a", "b"]

# The kinds real clients send, generated rather than listed. Text holds no NUL
# and no lone surrogate: those are refused by name (PostgreSQL cannot keep them).
storable = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
offsets = st.timedeltas(
    min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
).map(timezone)
times = st.one_of(
    st.datetimes(timezones=st.none() | offsets).map(lambda d: d.isoformat()),
    st.datetimes(timezones=offsets).map(lambda d: d.isoformat(timespec="milliseconds")),
    st.integers(),
    st.floats(),
    st.text(storable, max_size=40),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**4290), max_value=10**4290),  # as long as Python prints
    st.floats(),  # NaN and the infinities included: json.dumps writes NaN, Infinity
    st.floats().map(repr),
    st.decimals(allow_nan=True).map(str),
)
php_empty: st.SearchStrategy[list[Any]] = st.just(
    []
)  # PHP's json_encode of an empty associative array
odd_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(storable) | times | php_empty,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(storable, max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
good_messages = st.fixed_dictionaries(
    {
        "type": st.just("track"),
        "userId": st.just("ann@example.com"),
        "event": st.sampled_from(["Order Completed", "Product Viewed", "Product Added"]),
    },
    optional={
        "messageId": st.text(storable, min_size=1, max_size=255),
        "timestamp": times,
        "originalTimestamp": times,
        "properties": php_empty
        | st.fixed_dictionaries(
            {},
            optional={
                key: odd_values
                for key in ("total", "price", "quantity", "tax", "products", "category", "url")
            },
        ),
        "context": php_empty
        | st.fixed_dictionaries({}, optional={"page": odd_values, "traits": odd_values}),
        "traits": php_empty,
        "integrations": php_empty,
    },
)
bom_codecs = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
id_values = st.one_of(st.none(), st.text(max_size=300), st.integers(), st.booleans(), json_values)
message_shapes = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["identify", "track", "page", "alias", "screen", "group", "x"]),
        "userId": id_values,
        "anonymousId": id_values,
        "previousId": id_values,
        "messageId": id_values,
        "event": st.one_of(st.sampled_from(["Order Completed", "Product Viewed"]), json_values),
        "properties": json_values,
        "traits": json_values,
        "context": json_values,
        "timestamp": st.one_of(times, st.just("2026-11-28T10:00:00Z")),
        "writeKey": st.sampled_from([WRITE_KEY, "wrong", ""]),
    },
)


def post(client: Client, path: str, data: bytes, **extra: Any) -> Any:
    return client.post(
        f"/seg/v1/{path}",
        data=data,
        content_type=extra.pop("content_type", "application/json"),
        **extra,
    )


@pytest.mark.django_db
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), body=json_values, use_auth=st.booleans())
def test_fuzz_any_json_body(client: Client, path: str, body: Any, use_auth: bool) -> None:
    before = Event.objects.count()
    response = post(client, path, json.dumps(body).encode(), **(AUTH if use_auth else {}))
    assert response.status_code in ALLOWED
    if response.status_code != 200:
        assert Event.objects.count() == before


@pytest.mark.django_db
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), message=message_shapes)
def test_fuzz_message_shaped_bodies(client: Client, path: str, message: dict[str, Any]) -> None:
    before = Event.objects.count()
    body = (
        {"batch": [message, message | {"messageId": None}]} if path in ("b", "batch") else message
    )
    response = post(client, path, json.dumps(body).encode(), **AUTH)
    assert response.status_code in ALLOWED, response.content
    stored = Event.objects.count() - before
    if response.status_code == 200:
        errors = response.json().get("errors", [])
        sent = 2 if path in ("b", "batch") else 1
        assert stored <= sent - len(errors)
    else:
        assert stored == 0


@pytest.mark.django_db
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), raw=st.binary(max_size=2000), zipped=st.booleans())
def test_fuzz_raw_bytes(client: Client, path: str, raw: bytes, zipped: bool) -> None:
    extra = dict(AUTH, HTTP_CONTENT_ENCODING="gzip") if zipped else AUTH
    response = post(client, path, raw, **extra)
    assert response.status_code in ALLOWED


@pytest.mark.django_db
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    message=good_messages,
    codec=bom_codecs,
    zipped=st.booleans(),
    in_batch=st.booleans(),
    empty_batch_context=st.booleans(),
)
def test_fuzz_a_good_message_with_odd_values_is_always_stored(
    client: Client,
    message: dict[str, Any],
    codec: str,
    zipped: bool,
    in_batch: bool,
    empty_batch_context: bool,
) -> None:
    """Whatever its values, times and encoding, a well-formed message is stored,
    and what would go to Seg can be sent as JSON."""
    Event.objects.all().delete()
    body: Any = message
    if in_batch:
        body = {"batch": [message], **({"context": []} if empty_batch_context else {})}
    raw = json.dumps(body, ensure_ascii=False).encode(codec)
    extra = dict(AUTH, HTTP_CONTENT_ENCODING="gzip") if zipped else AUTH
    response = post(
        client, "batch" if in_batch else "track", gzip.compress(raw) if zipped else raw, **extra
    )
    if response.status_code == 413 or "32 KB" in response.content.decode():
        assert len(raw) > 32 * 1024 and not Event.objects.exists()  # Segment's own limit
        return
    assert response.status_code == 200, response.content
    assert "errors" not in response.json(), response.content
    event = Event.objects.get()
    assert event.status == Status.PENDING
    sent = json.dumps(event.payload, allow_nan=False, ensure_ascii=False).encode("utf-8")
    assert json.loads(sent)["MessageId"] == event.message_id
    tracker.idempotency_key(event.message_id).encode("ascii")


CASES = [
    (
        "deep nesting",
        b'{"type":"track","userId":"u","event":"x","properties":'
        + b'{"a":' * 5000
        + b"1"
        + b"}" * 5001,
        400,
    ),
    (
        "nested past the limit",
        json.dumps(
            {"userId": "u", "event": "x", "properties": json.loads('{"a":' * 40 + "1" + "}" * 40)}
        ).encode(),
        400,
    ),
    (
        "NUL byte",
        json.dumps({"userId": "u", "event": "x", "properties": {"a": "\x00"}}).encode(),
        400,
    ),
    ("invalid UTF-8", b'{"userId": "u", "event": "\xc3\x28"}', 400),
    ("lone surrogate", b'{"userId": "u", "event": "x", "properties": {"a": "\\udc00"}}', 400),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "body", "status"), CASES, ids=[c[0] for c in CASES])
def test_hostile_single_calls(client: Client, name: str, body: bytes, status: int) -> None:
    response = post(client, "track", body, **AUTH)
    assert response.status_code == status
    assert response.json()["success"] is False
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_huge_batch_is_413_and_stores_nothing(client: Client) -> None:
    batch = {"batch": messages(2600, "huge")}
    response = post(
        client,
        "batch",
        gzip.compress(json.dumps(batch).encode()),
        HTTP_CONTENT_ENCODING="gzip",
        **AUTH,
    )
    assert response.status_code == 413
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_numbers_as_strings_are_read_as_numbers(client: Client) -> None:
    body = {
        "userId": "a@b.co",
        "event": "Order Completed",
        "messageId": "n1",
        "properties": {"total": "30.50", "products": [{"id": 1, "price": "9.99", "quantity": "3"}]},
    }
    assert post(client, "track", json.dumps(body).encode(), **AUTH).status_code == 200
    payload = Event.objects.get().payload
    assert payload["Total"] == 30.5
    assert payload["OrderLines"] == [{"Id": "1", "Price": 9.99, "Quantity": 3}]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "auth", [{}, {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"nope:").decode()}]
)
def test_missing_or_wrong_write_key(client: Client, auth: dict[str, str]) -> None:
    body = json.dumps({"batch": messages(3, "key")}).encode()
    assert post(client, "batch", body, **auth).status_code == 401
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_message_id_reused_with_a_different_body_keeps_the_first(client: Client) -> None:
    first = {
        "userId": "a@b.co",
        "event": "Order Completed",
        "messageId": "same",
        "properties": {"total": 1},
    }
    second = first | {"event": "Product Viewed", "properties": {"total": 999}}
    for body in (first, second):
        assert post(client, "track", json.dumps(body).encode(), **AUTH).status_code == 200
    event = Event.objects.get()
    assert event.seg_event == "OrderPlaced" and event.message["properties"] == {"total": 1}


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_database_down_gives_503_never_200(client: Client) -> None:
    body = json.dumps(
        {"userId": "a@b.co", "event": "Order Completed", "messageId": "db-down"}
    ).encode()
    original = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent/dir/db.sqlite3"
    else:
        connection.settings_dict["PORT"] = "1"
    try:
        response = post(client, "track", body, **AUTH)
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "unavailable"
    assert not Event.objects.filter(message_id="db-down").exists()
    # The client's retry, once the database is back, is stored.
    assert post(client, "track", body, **AUTH).status_code == 200
    assert Event.objects.filter(message_id="db-down").count() == 1


@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_the_same_message_ids_store_each_once(start_web: Any) -> None:
    web = start_web()
    batch = messages(200, "twins")
    statuses: list[int] = []

    def send() -> None:
        with requests.Session() as session:
            for start in range(0, 200, 50):
                response = session.post(
                    f"{web.url}/seg/v1/batch",
                    json={"batch": batch[start : start + 50]},
                    auth=(WRITE_KEY, ""),
                    timeout=60,
                )
                statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 24
    assert Event.objects.count() == 200
