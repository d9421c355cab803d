"""A shop's history may move what it taught itself, never what live calls made known."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from integrations import api
from integrations.ingest import ingest
from integrations.models import Alias, Event, Source

pytestmark = pytest.mark.django_db

OLD, NEW = "old@example.com", "new@example.com"


def identify(user_id: str, email: str, message_id: str) -> dict[str, Any]:
    return {"type": "identify", "userId": user_id, "traits": {"email": email},
            "messageId": message_id, "timestamp": "2019-05-01T10:00:00Z"}  # fmt: skip


def alias(previous: str, email: str, message_id: str) -> dict[str, Any]:
    return {"type": "alias", "previousId": previous, "userId": email,
            "messageId": message_id, "timestamp": "2019-05-02T10:00:00Z"}  # fmt: skip


def track(message_id: str, user_id: str | None = "u1", email: str | None = None) -> dict[str, Any]:
    call = {"type": "track", "event": "Product Viewed", "properties": {"id": "1"},
            "messageId": message_id, "timestamp": "2019-05-03T10:00:00Z"}  # fmt: skip
    if user_id:
        call["userId"] = user_id
    else:
        call["anonymousId"] = "a1"
        call["context"] = {"traits": {"email": email}}
    return call


def backfill(*calls: dict[str, Any]) -> None:
    """Store ``calls`` as one chunk of a backfill."""
    result = ingest(list(calls), source=Source.BACKFILL)
    assert result.stored == len(calls), result.errors


def email_of(message_id: str, source: str = Source.BACKFILL) -> str:
    return Event.objects.get(message_id=message_id, source=source).email


def moves() -> dict[str, str]:
    return dict(Alias.objects.values_list("previous_email", "email"))


def test_an_exports_email_change_moves_its_later_history_in_one_chunk() -> None:
    backfill(identify("u1", OLD, "i1"), alias(OLD, NEW, "al1"), track("t1"))
    assert moves() == {OLD: NEW}
    assert email_of("t1") == NEW
    assert Event.objects.get(message_id=api.track("u1", "Product Viewed")).email == NEW


def test_an_exports_email_change_moves_its_later_history_across_chunks() -> None:
    backfill(identify("u1", OLD, "i1"))
    backfill(alias(OLD, NEW, "al1"), track("t1"))
    assert moves() == {OLD: NEW}
    assert email_of("t1") == NEW


def test_an_exports_email_change_moves_its_later_history_across_runs(tmp_path: Path) -> None:
    for name, lines in (
        ("before.jsonl", [identify("u1", OLD, "i1")]),
        ("after.jsonl", [alias(OLD, NEW, "al1"), track("t1")]),
    ):
        path = tmp_path / name
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        call_command("seg_backfill", str(path), "--no-progress")
    assert moves() == {OLD: NEW}
    assert email_of("t1") == NEW


def test_what_live_calls_made_known_stays_where_they_put_it() -> None:
    api.identify("u1", {"email": OLD})
    backfill(alias(OLD, NEW, "al1"), track("t1"))
    assert moves() == {}
    assert email_of("t1") == OLD


def test_a_live_identify_naming_what_history_taught_makes_it_live() -> None:
    backfill(identify("u1", OLD, "i1"))
    api.identify("u1", {"email": OLD})  # the same email, now from the shop's server
    backfill(alias(OLD, NEW, "al1"), track("t1"))
    assert moves() == {}
    assert email_of("t1") == OLD


def test_a_live_alias_over_one_history_made_stays() -> None:
    backfill(alias(OLD, "then@example.com", "al1"))
    api.alias(OLD, NEW)  # live: the customer moved on from old@
    backfill(alias(OLD, "other@example.com", "al2"))
    assert moves() == {OLD: NEW}


def test_later_history_replaces_what_earlier_history_taught() -> None:
    backfill(identify("u1", OLD, "i1"))
    backfill(identify("u1", NEW, "i2"))
    backfill(track("t1"))
    assert email_of("t1") == NEW


def test_a_later_backfilled_alias_replaces_an_earlier_ones_move() -> None:
    a, b, c = "a@example.com", "b@example.com", "c@example.com"
    backfill(alias(a, b, "al1"))
    backfill(alias(b, a, "al2"))  # back to a@, then on to c@
    backfill(alias(a, c, "al3"), track("t1", user_id=None, email=a))
    assert moves() == {a: c, b: a}
    assert email_of("t1") == c
