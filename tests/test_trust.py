"""A public browser key speaks only for its own visitor.

Anyone can read the browser key from a shop's page. With it a page may describe
its own anonymous visitor, but it may not pre-claim the messageIds the shop's
server uses, rebind a userId or an email the server's events resolve through,
release events the server sent, or rewrite a customer's profile; unless the shop's
server vouches for the userId (a signed identify, as ``{% seg_analytics %}`` makes).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import api
from integrations.delivery import tracker
from integrations.ingest import holds
from integrations.ingest.vouching import Voucher, user_hash, voucher
from integrations.models import Event, Identity, Source, Status
from integrations.templatetags.seg_analytics import snippet_config

from .conftest import BROWSER_KEY, WRITE_KEY

pytestmark = pytest.mark.django_db

VICTIM, ATTACKER = "victim@example.com", "attacker@example.net"


def send(client: Client, path: str, body: dict[str, Any], key: str = BROWSER_KEY) -> Any:
    basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    return client.post(
        f"/seg/v1/{path}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic,
    )


def order(user_id: str, message_id: str, total: float = 30) -> dict[str, Any]:
    return {
        "userId": user_id,
        "event": "Order Completed",
        "messageId": message_id,
        "properties": {"order_id": message_id, "total": total},
    }


# --- messageIds are deduplicated per source ------------------------------------------
def test_a_page_cannot_pre_claim_the_messageid_of_a_server_order(client: Client) -> None:
    api.identify("42", {"email": VICTIM})
    for n in range(3):
        claimed = order("42", f"oscar-order-{n}", total=0.01) | {"anonymousId": "a-x"}
        assert send(client, "t", claimed).status_code == 200
    # The shop's real orders, through the Python API and with the server key.
    assert api.track("42", "Order Completed", {"total": 99}, message_id="oscar-order-0")
    assert send(client, "track", order("42", "oscar-order-1", 99), key=WRITE_KEY).json() == {
        "success": True
    }
    real = Event.objects.filter(source=Source.SERVER, call_type="track").order_by("message_id")
    assert [(e.message_id, e.email, e.payload["Total"]) for e in real] == [
        ("oscar-order-0", VICTIM, 99),
        ("oscar-order-1", VICTIM, 99),
    ]
    assert all(e.status == Status.PENDING for e in real)
    # A repeat from the same source is still stored once.
    assert send(client, "track", order("42", "oscar-order-1", 99), key=WRITE_KEY).status_code == 200
    assert Event.objects.filter(source=Source.SERVER, message_id="oscar-order-1").count() == 1


def test_a_page_and_the_server_never_share_an_idempotency_key() -> None:
    server = tracker.request_key("oscar-order-7", Source.SERVER)
    page = tracker.request_key("oscar-order-7", Source.BROWSER)
    assert server == "oscar-order-7"
    assert tracker.idempotency_key(page) != tracker.idempotency_key(server)


# --- a page cannot rebind the server's identities -------------------------------------
IDENTIFY_FORMS: dict[str, Callable[[str, str], tuple[str, dict[str, Any]]]] = {
    "/v1/i": lambda user, email: ("i", {"userId": user, "traits": {"email": email}}),
    "/v1/identify": lambda user, email: ("identify", {"userId": user, "traits": {"email": email}}),
    "batch": lambda user, email: (
        "batch",
        {"batch": [{"type": "identify", "userId": user, "traits": {"email": email}}]},
    ),
    "context.traits": lambda user, email: (
        "identify",
        {"userId": user, "context": {"traits": {"email": email}}},
    ),
}


@pytest.mark.parametrize("form", IDENTIFY_FORMS)
def test_a_page_cannot_rebind_a_customer_the_server_knows(client: Client, form: str) -> None:
    api.identify("42", {"email": VICTIM})
    path, body = IDENTIFY_FORMS[form]("42", ATTACKER)
    assert send(client, path, body | {"anonymousId": "attacker-browser"}).status_code == 200
    # The shop's server events for user 42, without an email of their own.
    api.track("42", "Order Completed", {"order_id": "R1", "total": 10})
    api.track("42", "Product Added", {"product_id": "p1"})
    server = Event.objects.filter(source=Source.SERVER, call_type="track")
    assert {e.email for e in server} == {VICTIM}
    assert Identity.objects.get(kind="user", value="42", source=Source.SERVER).email == VICTIM


def test_a_page_claiming_a_userid_first_releases_nothing_the_server_sent(client: Client) -> None:
    # The customer's events arrive before they register: held.
    api.track("77", "Product Added", {"product_id": "p1"})
    api.track("77", "Order Completed", {"order_id": "R9", "total": 5})
    assert set(Event.objects.values_list("status", flat=True)) == {Status.HELD}
    # An attacker claims user 77 first, from a page.
    send(client, "identify", {"userId": "77", "anonymousId": "x", "traits": {"email": ATTACKER}})
    assert not Event.objects.filter(source=Source.SERVER).exclude(status=Status.HELD).exists()
    # The real registration releases them to the customer.
    api.identify("77", {"email": VICTIM})
    server = Event.objects.filter(source=Source.SERVER, call_type="track")
    assert {(e.status, e.email) for e in server} == {(Status.PENDING, VICTIM)}


def test_a_page_cannot_rewrite_a_customers_profile(client: Client) -> None:
    api.identify("42", {"email": VICTIM, "name": "Victoria"})
    traits = {"name": "Mallory", "acceptsMarketing": False, "country": "XX"}
    send(client, "identify", {"userId": "42", "anonymousId": "att", "traits": traits})
    forged = Event.objects.get(source=Source.BROWSER)
    assert forged.email == "" and forged.status in (Status.HELD, Status.IGNORED)
    assert forged.user_id == "" and "not vouched" in forged.warnings[-1]
    assert forged.payload is None or "Email" not in forged.payload


def test_a_page_cannot_divert_a_customers_events_by_re_identifying(client: Client) -> None:
    api.identify("42", {"email": VICTIM}, anonymous_id="victim-browser")
    for n in range(20):
        body = {"userId": "42", "anonymousId": "victim-browser", "traits": {"email": ATTACKER}}
        send(client, "identify", body | {"messageId": f"again-{n}"})
        api.track("42", "Order Completed", {"order_id": f"R{n}", "total": n})
        send(
            client,
            "t",
            {"userId": "42", "anonymousId": "victim-browser", "event": "Product Viewed"},
        )
    server = Event.objects.filter(source=Source.SERVER, call_type="track")
    assert {e.email for e in server} == {VICTIM}
    # Knowing (or fixing, through a link's ?ajs_aid=) the victim's anonymousId is no
    # signature: unsigned page events of it speak for nobody the server knows.
    page = Event.objects.filter(source=Source.BROWSER, call_type="track")
    assert VICTIM not in {e.email for e in page}


def test_a_page_describes_its_own_anonymous_visitor(client: Client) -> None:
    """An unsigned identify still gives its own visitor's page events an email."""
    send(client, "t", {"anonymousId": "v1", "event": "Product Viewed", "messageId": "m1"})
    api.track(None, "Product Added", {"product_id": "p"}, anonymous_id="v1")
    send(client, "identify", {"anonymousId": "v1", "traits": {"email": "newsletter@example.com"}})
    page = Event.objects.get(message_id="m1")
    assert (page.status, page.email) == (Status.PENDING, "newsletter@example.com")
    # The server's own event of that anonymousId waits for the server's word.
    assert Event.objects.get(source=Source.SERVER).status == Status.HELD
    api.track(None, "Product Viewed", {"product_id": "q"}, anonymous_id="v1")
    assert Event.objects.filter(source=Source.SERVER, status=Status.HELD).count() == 2


# --- the shop vouches: a signed identify, or a tie the server made --------------------
def test_the_tags_signed_identify_speaks_for_the_logged_in_user(
    client: Client, django_user_model: Any, rf: RequestFactory
) -> None:
    user = django_user_model.objects.create_user("ann", "ann@example.com", "pw")
    request = rf.get("/")
    request.user = user
    config = snippet_config(request)["identify"]
    signature = config["options"]["integrations"]["Seg"]["userHash"]
    assert voucher(str(user.pk), config["options"]) == Voucher(str(user.pk), "ann@example.com")
    api.track(str(user.pk), "Product Added", {"product_id": "p"})  # held: not known yet
    body = {
        "userId": config["userId"],
        "anonymousId": "ann-browser",
        "traits": config["traits"],
        **config["options"],
    }
    send(client, "identify", body)
    assert Event.objects.get(source=Source.SERVER).email == "ann@example.com"
    # The tag stamps the signature on every later call of the page.
    signed = {"integrations": {"Seg": {"userHash": signature}}}
    send(client, "t", {"userId": str(user.pk), "anonymousId": "ann-browser", "event": "x"} | signed)
    track = Event.objects.filter(source=Source.BROWSER, call_type="track").get()
    assert (track.user_id, track.email) == (str(user.pk), "ann@example.com")


def test_a_signature_vouches_for_its_own_email_and_for_a_day(
    client: Client, seg_settings: Any
) -> None:
    # A customer with an account signs their own page, and names another email.
    api.track("3", "Order Completed", {"order_id": "R3", "total": 1})  # held
    mine = {"integrations": {"Seg": {"userHash": user_hash("3", "mallory@example.net")}}}
    capture = {"userId": "3", "anonymousId": "m", "traits": {"email": "capture@example.org"}}
    send(client, "identify", capture | mine)
    assert Event.objects.get(source=Source.SERVER).status == Status.HELD
    assert (
        "not the email the page's signature"
        in Event.objects.get(source=Source.BROWSER).warnings[-1]
    )
    # A signature past SEG_SIGNATURE_MAX_AGE vouches for nothing.
    seg_settings.SEG_SIGNATURE_MAX_AGE = -1
    assert voucher("3", mine) is None


def test_a_wrong_signature_vouches_for_nothing(client: Client) -> None:
    api.identify("42", {"email": VICTIM})
    forged = {"integrations": {"Seg": {"userHash": user_hash("43")}}}
    send(
        client,
        "identify",
        {"userId": "42", "anonymousId": "a", "traits": {"email": ATTACKER}} | forged,
    )
    api.track("42", "Order Completed", {"order_id": "R1", "total": 1})
    assert Event.objects.get(source=Source.SERVER, call_type="track").email == VICTIM


# --- each call's cost is bounded, whatever the history of its ids ---------------------
def _identify_queries() -> int:
    with CaptureQueriesContext(connection) as queries:
        api.identify("heavy", {"email": "heavy@example.com"}, anonymous_id="fresh")
    return len(queries)


def test_an_identify_costs_the_same_whatever_the_users_history(settings: Any) -> None:
    settings.SEG_RELEASE_ANONYMOUS_IDS = 5
    now = timezone.now()
    Identity.objects.bulk_create(
        Identity(kind="anonymous", value=f"a{n}", user_id="heavy", updated_at=now)
        for n in range(10)
    )
    _identify_queries()
    few = _identify_queries()
    Identity.objects.bulk_create(
        Identity(kind="anonymous", value=f"b{n}", user_id="heavy", updated_at=now)
        for n in range(5000)
    )
    assert _identify_queries() == few


def test_an_identify_releases_a_bounded_batch_and_a_task_the_rest(settings: Any) -> None:
    settings.SEG_RELEASE_BATCH = 10
    for n in range(25):
        api.track(None, "Product Viewed", {"product_id": f"p{n}"}, anonymous_id="many")
    api.identify(None, {"email": "many@example.com"}, anonymous_id="many")
    assert Event.objects.filter(status=Status.HELD).count() == 15
    assert holds.release_rest(None, "many", Source.SERVER) == 15
    assert not Event.objects.filter(status=Status.HELD).exists()
    released = Event.objects.filter(call_type="track").order_by("timestamp", "id")
    assert {e.email for e in released} == {"many@example.com"}


def test_what_seg_gets_names_only_a_userid_the_server_vouches_for(client: Client) -> None:
    """An unsigned identify's update-customer goes out for the page's own claim, without
    the userId it named: Seg must not tie that id to the page's email."""
    send(client, "identify", {"userId": "42", "anonymousId": "att", "traits": {"email": ATTACKER}})
    forged = Event.objects.get(source=Source.BROWSER)
    assert forged.email == ATTACKER and forged.status == Status.PENDING
    assert "Id" not in forged.payload and "UserId" not in forged.payload
    assert forged.message["userId"] == "42"  # kept as sent


def test_a_page_cannot_speak_for_an_email_the_server_knows(client: Client) -> None:
    """Unsigned, a page's claim of a known customer's email rewrites nothing at Seg and
    puts nothing in their name: not their profile, not a forged order."""
    api.identify("42", {"email": VICTIM, "name": "Victoria"})
    traits = {"email": VICTIM, "name": "Mallory", "acceptsMarketing": False}
    send(client, "identify", {"anonymousId": "att", "traits": traits, "messageId": "p-1"})
    order_ = {"anonymousId": "att", "event": "Order Completed", "messageId": "p-2"}
    send(client, "t", order_ | {"context": {"traits": {"email": VICTIM}}})
    for forged in Event.objects.filter(source=Source.BROWSER):
        assert forged.email != VICTIM and forged.status != Status.PENDING
        assert any("the shop's server knows" in warning for warning in forged.warnings)
    # An email the server does not know is the page's own visitor's to give.
    send(client, "identify", {"anonymousId": "new", "traits": {"email": "new@example.com"}})
    assert Event.objects.get(source=Source.BROWSER, anonymous_id="new").status == Status.PENDING
