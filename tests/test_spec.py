"""Validation refuses what cannot be stored, naming the field."""

from __future__ import annotations

import gzip
import json

import pytest

from integrations.core import decode_body, email_in, normalize_email, validate
from integrations.exceptions import InvalidMessage, InvalidRequest, PayloadTooLarge


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "track", "event": "Order Completed"}, "userId"),
        ({"type": "track", "userId": "u"}, "event"),
        ({"type": "track", "userId": "u", "event": "   "}, "event"),
        ({"type": "track", "userId": {"id": 1}, "event": "x"}, "userId"),
        ({"type": "track", "userId": True, "event": "x"}, "userId"),
        ({"type": "jump", "userId": "u"}, "type"),
        ({"userId": "u"}, "type"),
        ({"type": "track", "userId": "u", "event": "x", "properties": [1]}, "properties"),
        ({"type": "identify", "userId": "u", "traits": "gold"}, "traits"),
        ({"type": "alias", "userId": "b@x.io"}, "previousId"),
        ({"type": "track", "userId": "u", "event": "x", "messageId": {"a": 1}}, "messageId"),
        ({"type": "track", "userId": "u", "event": "x", "messageId": "m" * 256}, "messageId"),
        (
            {"type": "track", "userId": "u", "event": "x", "properties": {"a": "x\x00y"}},
            "properties.a",
        ),
        (
            {"type": "track", "userId": "u", "event": "x", "properties": {"b": ["\ud800"]}},
            "properties.b[0]",
        ),
    ],
)
def test_invalid_message_names_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        validate(raw)
    assert caught.value.field == field


def test_numeric_ids_become_strings_and_a_message_id_is_made() -> None:
    message = validate({"type": "track", "userId": 42, "event": "x"})
    assert message["userId"] == "42"
    assert len(message["messageId"]) == 36


def test_too_deep_is_refused() -> None:
    deep: object = "x"
    for _ in range(40):
        deep = {"a": deep}
    with pytest.raises(InvalidMessage, match="deeper"):
        validate({"type": "track", "userId": "u", "event": "x", "properties": deep})


def test_message_over_32kb_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        validate({"type": "track", "userId": "u", "event": "x", "properties": {"a": "x" * 33000}})


def test_decode_body_handles_gzip_and_refuses_bombs() -> None:
    body: dict[str, list[object]] = {"batch": []}
    assert decode_body(gzip.compress(json.dumps(body).encode()), "gzip") == body
    with pytest.raises(PayloadTooLarge):
        decode_body(gzip.compress(b" " * (600 * 1024)), "gzip")
    with pytest.raises(InvalidRequest):
        decode_body(b"\x1f\x8bnot gzip", "gzip")


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe{}", b"[" * 100_000, b"\xef\xbb\xbf", b"\xc3\x28"])
def test_decode_body_refuses_bad_json(raw: bytes) -> None:
    with pytest.raises(InvalidRequest):
        decode_body(raw, None)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": -Infinity}', "-Infinity"),
        (b'{"a": 1e999}', "1e999"),
        (b'{"a": ' + b"9" * 5000 + b"}", "9" * 5000),
        (b'{"a": 1.5}', 1.5),
        (b'{"a": ' + b"9" * 4000 + b"}", int("9" * 4000)),
    ],
)
def test_decode_body_keeps_a_number_python_cannot_hold_as_its_text(
    raw: bytes, value: object
) -> None:
    assert decode_body(raw, None) == {"a": value}


def test_emails() -> None:
    assert normalize_email(" Ann@Example.COM ") == "ann@example.com"
    assert normalize_email("not-an-email") is None
    assert email_in(validate({"type": "identify", "userId": "Bo@Ex.io"})) == "bo@ex.io"
    ctx = {"traits": {"email": "c@ex.io"}}
    assert (
        email_in(validate({"type": "track", "userId": "u", "event": "x", "context": ctx}))
        == "c@ex.io"
    )
