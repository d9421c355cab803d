"""Identity: anonymous visitors are held until an email is known; aliases move customers."""

from __future__ import annotations

import pytest

from integrations import api
from integrations.models import Alias, Event, Status

pytestmark = pytest.mark.django_db


def status_of(message_id: str) -> tuple[str, str]:
    event = Event.objects.get(message_id=message_id)
    return event.status, event.email


def test_anonymous_events_are_held_then_released_in_order(
    django_capture_on_commit_callbacks: object,
) -> None:
    api.page(anonymous_id="a1", name="Home", message_id="p1")
    api.track(anonymous_id="a1", event="Product Viewed", properties={"id": "x"}, message_id="t1")
    assert status_of("p1") == (Status.HELD, "")
    assert "Email" not in Event.objects.get(message_id="t1").payload
    api.identify("u1", {"email": "Ann@Example.com"}, anonymous_id="a1", message_id="i1")
    for message_id in ("p1", "t1", "i1"):
        assert status_of(message_id) == (Status.PENDING, "ann@example.com")
    assert Event.objects.get(message_id="t1").payload["Email"] == "ann@example.com"
    # Later calls by user id alone, or anonymous id alone, resolve at once.
    api.track("u1", "Product Added", {"id": "x"}, message_id="t2")
    api.track(anonymous_id="a1", event="Product Added", message_id="t3")
    assert status_of("t2") == status_of("t3") == (Status.PENDING, "ann@example.com")


def test_identify_without_email_links_ids_for_later() -> None:
    api.track(anonymous_id="a2", event="Product Viewed", message_id="t1")
    api.identify("u2", {"name": "Bo"}, anonymous_id="a2", message_id="i1")
    assert status_of("i1")[0] == Status.IGNORED
    assert status_of("t1")[0] == Status.HELD
    api.identify("u2", {"email": "bo@example.com"}, message_id="i2")
    assert status_of("t1") == (Status.PENDING, "bo@example.com")


def test_alias_moves_later_events_and_follows_chains() -> None:
    api.identify("u3", {"email": "old@example.com"})
    api.alias("old@example.com", "mid@example.com", message_id="al1")
    api.alias("mid@example.com", "new@example.com", message_id="al2")
    api.track("u3", "Order Completed", {"orderId": "o1"}, message_id="o1")
    assert status_of("o1") == (Status.PENDING, "new@example.com")
    assert Event.objects.get(message_id="al2").payload == {
        "MessageId": "al2",
        "Date": Event.objects.get(message_id="al2").payload["Date"],
        "Email": "new@example.com",
        "UserId": "new@example.com",
        "PreviousEmail": "mid@example.com",
    }
    assert Alias.objects.get(previous_email="old@example.com").message_id == "al1"


def test_alias_cycle_is_refused() -> None:
    api.alias("a@example.com", "b@example.com", message_id="c1")
    api.alias("b@example.com", "c@example.com", message_id="c2")
    api.alias("c@example.com", "a@example.com", message_id="c3")
    event = Event.objects.get(message_id="c3")
    assert event.status == Status.IGNORED and "cycle" in event.status_reason
    assert not Alias.objects.filter(previous_email="c@example.com").exists()


def test_identify_in_the_same_batch_releases_earlier_messages() -> None:
    from integrations.ingest import ingest

    result = ingest(
        [
            {"type": "track", "anonymousId": "a5", "event": "Product Viewed", "messageId": "b1"},
            {"type": "identify", "anonymousId": "a5", "traits": {"email": "cy@example.com"}},
            {"type": "page", "anonymousId": "a5", "messageId": "b3"},
        ]
    )
    assert result.stored == 3 and not result.errors
    assert status_of("b1") == status_of("b3") == (Status.PENDING, "cy@example.com")
