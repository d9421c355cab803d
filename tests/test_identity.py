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


A, B, C = "a@example.com", "b@example.com", "c@example.com"


def alias(previous: str, new: str) -> dict[str, str]:
    return {"type": "alias", "previousId": previous, "userId": new}


@pytest.mark.parametrize(
    ("requests", "current"),
    [
        ([[alias(A, B)], [alias(B, C)]], {A: C, B: C, C: C}),
        ([[alias(A, B)], [alias(B, A)]], {A: A, B: A}),
        ([[alias(A, B)], [alias(B, C)], [alias(C, A)]], {A: A, B: A, C: A}),
        ([[alias(A, B), alias(B, A)]], {A: A, B: A}),  # two aliases in one batch
        ([[alias(A, B), alias(B, C)]], {A: C, B: C}),
        ([[alias(A, B)], [alias(B, A)], [alias(A, C)]], {A: C, B: C, C: C}),
        ([[alias(A, B)], [alias(C, A)]], {A: B, C: B}),  # a chain, whatever the order
        ([[alias(B, C)], [alias(A, B)]], {A: C, B: C}),
    ],
    ids=[
        "A>B>C",
        "A>B,B>A",
        "A>B,B>C,C>A",
        "batch A>B,B>A",
        "batch A>B,B>C",
        "back, then on",
        "C>A after A>B",
        "B>C then A>B",
    ],
)
def test_the_newest_alias_wins_and_no_loop_forms(
    requests: list[list[dict[str, str]]], current: dict[str, str]
) -> None:
    from integrations.ingest import ingest

    for batch in requests:
        result = ingest(batch)
        assert result.stored == len(batch) and not result.errors
    aliases = Event.objects.filter(call_type="alias")
    assert {event.status for event in aliases} == {Status.PENDING}  # none refused
    for email, expected in current.items():
        message_id = api.track(
            "u", "Product Viewed", {"id": "p"}, context={"traits": {"email": email}}
        )
        assert status_of(message_id) == (Status.PENDING, expected), email


def test_a_customer_who_changes_their_email_back() -> None:
    api.identify("u7", {"email": A}, message_id="i1")
    api.alias(A, B, message_id="al1")
    api.alias(B, A, message_id="al2")
    api.identify("u7", {"email": A, "name": "Ann"}, message_id="i2")
    api.track("u7", "Order Completed", {"orderId": "o7"}, message_id="o7")
    assert status_of("al2") == (Status.PENDING, A)
    identify = Event.objects.get(message_id="i2")
    assert identify.payload["Email"] == A and identify.payload["Traits"]["email"] == A
    assert status_of("o7") == (Status.PENDING, A)
    assert Event.objects.get(message_id="o7").payload["Email"] == A


def test_an_identify_sends_its_own_email_even_after_an_alias_moved_it() -> None:
    api.alias(A, B, message_id="al1")
    api.identify("u8", {"email": A}, message_id="i1")
    assert Event.objects.get(message_id="i1").payload["Email"] == A
    api.track("u8", "Product Viewed", {"id": "p"}, message_id="t1")
    assert status_of("t1") == (Status.PENDING, B)  # later events follow the alias


def test_the_identity_chain_reads_what_was_known_when_the_event_arrived() -> None:
    from integrations.ingest import identity_chain

    api.identify("u9", {"email": A}, anonymous_id="anon-9", message_id="i1")
    api.track("u9", "Product Viewed", {"id": "p"}, message_id="before")
    api.alias(A, B, message_id="al1")
    api.track("u9", "Product Viewed", {"id": "p"}, message_id="after")
    api.alias(B, A, message_id="al2")
    api.track("u9", "Product Viewed", {"id": "p"}, message_id="back")
    chains = {
        m: identity_chain(Event.objects.get(message_id=m)) for m in ("before", "after", "back")
    }
    assert chains["before"] == [("userId", "u9"), ("email (from identify)", A)]
    assert chains["after"] == [("userId", "u9"), ("email (from identify)", A), ("alias to", B)]
    assert chains["back"] == [
        ("userId", "u9"),
        ("email (from identify)", A),
        ("alias to", B),
        ("alias to", A),
    ]
    anonymous = Event.objects.get(message_id=api.page(anonymous_id="anon-9"))
    assert identity_chain(anonymous)[:3] == [
        ("anonymousId", "anon-9"),
        ("userId (from identify)", "u9"),
        ("email (from identify)", A),
    ]


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


def test_an_alias_moves_to_its_user_id_as_seg_is_told_whatever_its_traits_say() -> None:
    from integrations.ingest import ingest

    ingest([alias(A, B) | {"traits": {"email": C}, "context": {"traits": {"email": A}}}])
    assert Event.objects.get(call_type="alias").payload["Email"] == B
    message_id = api.track("u", "Product Viewed", {"id": "p"}, context={"traits": {"email": A}})
    assert status_of(message_id) == (Status.PENDING, B)
