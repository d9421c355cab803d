"""The mapping table: every sample message and the exact payload Seg must receive."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.core import validate
from integrations.core.payloads import map_message, with_email

SAMPLES = sorted((Path(__file__).parent / "samples").glob("*.json"))
RECEIVED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_sample_maps_to_contract_payload(path: Path) -> None:
    case = json.loads(path.read_text())
    mapping = map_message(validate(case["message"]), case["email"], RECEIVED)
    assert (mapping.action.value if mapping.action else None) == case["action"]
    assert (mapping.seg_event.value if mapping.seg_event else None) == (case["seg_event"] or None)
    assert mapping.payload == case["payload"]
    assert list(mapping.warnings) == case["warnings"]


def test_samples_cover_every_seg_documentation_example() -> None:
    names = {json.loads(p.read_text())["message"].get("event") for p in SAMPLES}
    assert {
        "Viewed Product Category",
        "Viewed Product",
        "Added Product",
        "Order Completed",
        "Completed Order",
    } <= names


def test_held_event_gets_email_in_place() -> None:
    message = validate({"type": "page", "anonymousId": "a1", "messageId": "m"})
    mapping = map_message(message, None, RECEIVED)
    assert mapping.payload is not None and "Email" not in mapping.payload
    released = with_email(mapping.payload, "ann@example.com")
    assert list(released)[:3] == ["MessageId", "Date", "Email"]
    assert released["Email"] == "ann@example.com"


def test_identify_without_email_sends_nothing() -> None:
    mapping = map_message(validate({"type": "identify", "userId": "u1"}), None, RECEIVED)
    assert mapping.action is None and "remembered" in mapping.reason


def test_unreadable_timestamp_falls_back_and_warns() -> None:
    message = validate({"type": "page", "userId": "u", "messageId": "m", "timestamp": "yesterday"})
    mapping = map_message(message, "a@b.co", RECEIVED)
    assert mapping.payload is not None and mapping.payload["Date"] == "2026-11-28T12:00:00.000Z"
    assert mapping.warnings == ("timestamp 'yesterday' is not ISO 8601; it was not used.",)


def test_money_strings_keep_every_digit() -> None:
    message = validate(
        {
            "type": "track",
            "userId": "u",
            "event": "Order Completed",
            "properties": {"total": "19.99", "revenue": "1e2", "tax": True},
        }
    )
    payload = map_message(message, "a@b.co", RECEIVED).payload
    assert payload is not None
    assert payload["Total"] == 19.99 and payload["Revenue"] == 100 and "Tax" not in payload
