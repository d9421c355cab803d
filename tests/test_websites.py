"""Several stores in one project: each write key or site goes to its own Seg website, with
its own customers, order, throttle and circuit breaker."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from django.core import checks
from django.test import Client

from integrations import api
from integrations.checks import websites as website_checks
from integrations.checks.configuration import check_website_id
from integrations.conf import website_for
from integrations.core import Verdict
from integrations.delivery import claims, outbox, throttle
from integrations.dev import Sandbox
from integrations.dev.sandbox import Answer
from integrations.exceptions import SegConfigurationError
from integrations.models import Attempt, Event, Source, Status

from .conftest import BROWSER_KEY, WEBSITE_ID, wait_until

STORE_A = "0f0e8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f6"
STORE_B = "7d6c5b4a-3928-4716-a5b4-c3d2e1f0a9b8"
KEY_A, KEY_B = "store-a-key", "store-b-key"
EMAIL = "ann@example.com"


@pytest.fixture
def two_stores(settings: Any) -> Any:
    """Two stores, each with its server key; no SEG_WEBSITE_ID."""
    settings.SEG_WEBSITE_ID = None
    settings.SEG_WRITE_KEYS = [KEY_A, KEY_B]
    settings.SEG_BROWSER_WRITE_KEYS = [BROWSER_KEY]
    settings.SEG_WEBSITES = {KEY_A: STORE_A, KEY_B: STORE_B, BROWSER_KEY: STORE_A}
    return settings


def worker_env() -> dict[str, str]:
    return {
        "SEG_WEBSITE_ID": "",
        "SEG_WRITE_KEYS": f"{KEY_A},{KEY_B}",
        "SEG_WEBSITES": f"{KEY_A}={STORE_A},{KEY_B}={STORE_B},{BROWSER_KEY}={STORE_A}",
    }


def track(client: Client, key: str, call: dict[str, Any], host: str | None = None) -> Any:
    """POST ``call`` to the track endpoint with write key ``key`` (and Host ``host``)."""
    headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    if host:
        headers["Host"] = host
    return client.post("/seg/v1/track", call, "application/json", headers=headers)


def shopping(
    store: str, count: int, start: datetime, email: str = EMAIL, user: str = "ann"
) -> list[dict[str, Any]]:
    """A customer's identify, then their views and orders in one store, a second apart."""
    tag = uuid.uuid4().hex[:6]
    calls: list[dict[str, Any]] = [
        {
            "type": "identify",
            "messageId": f"{store}-{tag}-identify",
            "userId": user,
            "traits": {"email": email, "firstName": "Ann"},
            "timestamp": start.isoformat(),
        }
    ]
    for i in range(1, count):
        calls.append(
            {
                "type": "track",
                "messageId": f"{store}-{tag}-{i}",
                "userId": user,
                "event": "Order Completed" if i % 2 else "Product Viewed",
                "properties": {"orderId": f"{store}-{tag}-{i}", "id": f"p-{i}", "total": i},
                "context": {"traits": {"email": email}},
                "timestamp": (start + timedelta(seconds=i)).isoformat(),
            }
        )
    return calls


# --- Where a call goes ------------------------------------------------------


def test_a_call_goes_to_its_keys_website_else_its_sites_else_seg_website_id(
    settings: Any,
) -> None:
    settings.SEG_WEBSITES = {KEY_A: STORE_A, 2: STORE_B, "b.example": STORE_B}
    assert website_for(key=KEY_A) == STORE_A
    assert website_for(key="other") == WEBSITE_ID  # SEG_WEBSITE_ID names the rest

    class Site:
        def __init__(self, pk: int | None, domain: str) -> None:
            self.pk, self.domain = pk, domain

    assert website_for(site=Site(2, "x.example")) == STORE_B
    assert website_for(site=Site(None, "b.example")) == STORE_B
    assert website_for(key=KEY_A, site=Site(2, "b.example")) == STORE_A  # the key first
    assert website_for(STORE_B) == STORE_B and website_for(KEY_A) == STORE_A
    assert website_for(WEBSITE_ID) == WEBSITE_ID
    with pytest.raises(SegConfigurationError, match="names no website"):
        website_for("no-such-store")
    settings.SEG_WEBSITES = {KEY_A: ""}
    with pytest.raises(SegConfigurationError, match="SEG_WEBSITES must map"):
        website_for(key=KEY_A)


@pytest.mark.django_db
def test_with_seg_website_id_alone_every_event_goes_to_it(client: Client) -> None:
    call = shopping("one", 2, datetime.now(UTC))[1]
    assert track(client, "second-key", call).status_code == 200
    api.track("ann", "Product Viewed", {"id": "p"}, context={"traits": {"email": EMAIL}})
    assert set(Event.objects.values_list("website", flat=True)) == {WEBSITE_ID}


@pytest.mark.django_db
def test_each_event_records_the_website_of_its_key_its_host_or_its_caller(
    client: Client, two_stores: Any
) -> None:
    two_stores.SEG_WRITE_KEYS = [KEY_A, KEY_B, "unmapped-key"]
    two_stores.SEG_WEBSITES |= {"b.example": STORE_B}
    two_stores.ALLOWED_HOSTS = ["testserver", "b.example"]
    a, b, host, page = shopping("x", 5, datetime.now(UTC))[1:]
    for call, key, on in (
        (a, KEY_A, None),
        (b, KEY_B, None),
        (host, "unmapped-key", "b.example"),
        (page, BROWSER_KEY, None),
    ):
        response = track(client, key, call, on)
        assert response.status_code == 200, response.content
    api.track("ann", "Product Viewed", {"id": "p"}, message_id="api", website=STORE_B)
    api.track("ann", "Product Viewed", {"id": "p"}, message_id="api-key", website=KEY_A)
    websites = dict(Event.objects.values_list("message_id", "website"))
    assert websites == {
        a["messageId"]: STORE_A,
        b["messageId"]: STORE_B,
        host["messageId"]: STORE_B,
        page["messageId"]: STORE_A,
        "api": STORE_B,
        "api-key": STORE_A,
    }
    with pytest.raises(SegConfigurationError):
        api.track("ann", "Product Viewed", {"id": "p"}, website="nowhere")


@pytest.mark.django_db
def test_an_identify_already_accepted_by_one_website_is_still_sent_to_the_other(
    two_stores: Any,
) -> None:
    traits = {"email": EMAIL, "firstName": "Ann"}
    api.identify("ann", traits, message_id="first", website=STORE_A)
    Event.objects.filter(message_id="first").update(
        status=Status.DELIVERED, delivered_at=datetime.now(UTC)
    )
    api.identify("ann", traits, message_id="again-a", website=STORE_A)
    api.identify("ann", traits, message_id="to-b", website=STORE_B)
    statuses = dict(Event.objects.values_list("message_id", "status"))
    assert statuses["again-a"] == Status.UNCHANGED
    assert statuses["to-b"] == Status.PENDING


# --- The checks ---------------------------------------------------------------


def ids(found: list[checks.CheckMessage]) -> list[str]:
    return [message.id or "" for message in found]


def test_two_stores_well_set_up_pass_the_checks(two_stores: Any) -> None:
    assert check_website_id() == []  # SEG_WEBSITES stands in for SEG_WEBSITE_ID
    assert website_checks.check_websites() == []
    assert website_checks.check_websites_reached() == []


def test_with_seg_website_id_alone_the_website_checks_say_nothing(settings: Any) -> None:
    assert website_checks.check_websites() == []
    assert website_checks.check_websites_reached() == []


def test_a_key_that_names_no_website_is_an_error(two_stores: Any) -> None:
    two_stores.SEG_WRITE_KEYS = [KEY_A, KEY_B, "forgotten-key"]
    (error,) = website_checks.check_websites()
    assert error.id == "integrations.E203" and "forg…" in error.msg
    assert "forgotten-key" not in error.msg  # a server key is a secret
    two_stores.SEG_WEBSITES |= {"b.example": STORE_B}  # a site may still name one
    assert ids(website_checks.check_websites()) == ["integrations.W201"]
    two_stores.SEG_WEBSITE_ID = WEBSITE_ID  # or SEG_WEBSITE_ID takes it
    assert website_checks.check_websites() == []


def test_a_website_no_key_reaches_is_reported(two_stores: Any) -> None:
    two_stores.SEG_WEBSITES = {KEY_A: STORE_A, KEY_B: STORE_A, "typo-key": STORE_B}
    found = website_checks.check_websites_reached()
    assert ids(found) == ["integrations.W202", "integrations.W203"]
    assert "'typo-key'" in found[0].msg and STORE_B in found[1].msg
    two_stores.ALLOWED_HOSTS = ["typo-key"]  # a host the project serves is a site
    assert website_checks.check_websites_reached() == []


def test_a_website_id_that_is_no_guid_and_a_bad_mapping_are_errors(two_stores: Any) -> None:
    two_stores.SEG_WEBSITES = {KEY_A: STORE_A, KEY_B: "store-b", BROWSER_KEY: STORE_A}
    assert ids(website_checks.check_websites()) == ["integrations.E202"]
    two_stores.SEG_WEBSITES = [KEY_A, STORE_A]
    assert ids(website_checks.check_websites()) == ["integrations.E201"]


def test_the_checks_are_registered(two_stores: Any) -> None:
    two_stores.SEG_WRITE_KEYS = [KEY_A, KEY_B, "forgotten-key"]
    found = checks.run_checks(tags=["integrations"])
    assert "integrations.E203" in ids(found)


# --- Throttle and sandbox, per website -----------------------------------------


@pytest.mark.usefixtures("fresh_throttle")
def test_one_websites_pause_and_open_circuit_leave_the_other_alone(settings: Any) -> None:
    settings.SEG_WEBSITES = {KEY_A: STORE_A, KEY_B: STORE_B}
    settings.SEG_BREAKER_THRESHOLD = 3
    throttle.report(Verdict.RETRY, 503, timedelta(seconds=5), website=STORE_A)
    assert throttle.gate(website=STORE_A) is not None
    assert throttle.gate(website=STORE_B) is None
    assert throttle.gate(website=WEBSITE_ID) is None  # SEG_WEBSITE_ID's too
    for _ in range(3):
        throttle.report(Verdict.RETRY, 500, None, website=STORE_A)
    assert throttle.is_open(STORE_A) and not throttle.is_open(STORE_B)
    assert not throttle.is_open()
    assert throttle.open_websites([WEBSITE_ID, STORE_A, STORE_B]) == {STORE_A}
    assert throttle.client().exists(throttle.OPEN + ":" + STORE_A)
    throttle.report(Verdict.DELIVERED, 200, None, website=STORE_A)
    assert not throttle.is_open(STORE_A)
    throttle.report(Verdict.RETRY, 500, None, website=STORE_A)
    throttle.reset()
    assert throttle.client().keys(throttle.PREFIX + "*") == []


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_throttle")
def test_the_sweep_probes_a_website_whose_circuit_is_open_and_queues_the_others(
    two_stores: Any, broker: Any
) -> None:
    for store in (STORE_A, STORE_B):
        for i in range(5):
            traits = {"traits": {"email": EMAIL}}
            api.track("ann", "Product Viewed", {"id": f"p{i}"}, context=traits, website=store)
    past = datetime.now(UTC) - timedelta(hours=1)
    Event.objects.update(enqueued_at=None, next_attempt_at=past)
    two_stores.SEG_ORDER_PER_CUSTOMER = False
    two_stores.SEG_BREAKER_THRESHOLD = 1
    throttle.report(Verdict.RETRY, 500, None, website=STORE_A)
    outbox.sweep()
    queued = Event.objects.exclude(enqueued_at=None)
    assert queued.filter(website=STORE_B).count() == 5
    assert queued.filter(website=STORE_A).count() == 1  # the probe


def test_the_sandbox_answers_one_website_as_scripted_and_the_others_as_usual() -> None:
    sandbox = Sandbox().start()
    try:
        scripted = requests.post(
            f"{sandbox.url}/_sandbox/script",
            json={"website": STORE_A, "answers": [{"status": 429}], "default": {"status": 500}},
            timeout=5,
        )
        assert scripted.ok
        statuses = [
            requests.post(f"{sandbox.url}/django/{store}/order-placed", json={}, timeout=5)
            for store in (STORE_A, STORE_B, STORE_A, STORE_B)
        ]
        assert [r.status_code for r in statuses] == [429, 200, 500, 200]
        sandbox.script_website(STORE_A)  # no answers, no default: as every website
        assert requests.post(f"{sandbox.url}/django/{STORE_A}/x", json={}, timeout=5).ok
        assert [r.website_id for r in sandbox.snapshot()] == [STORE_A, STORE_B] * 2 + [STORE_A]
    finally:
        sandbox.stop()


# --- Two stores, a real worker ----------------------------------------------------


def post_all(base: str, key: str, calls: list[dict[str, Any]]) -> None:
    response = requests.post(
        f"{base}/seg/v1/batch", json={"batch": calls}, auth=(key, ""), timeout=30
    )
    assert response.status_code == 200, response.text
    assert json.loads(response.text) == {"success": True}


def delivered_to(sandbox: Sandbox, store: str) -> list[str]:
    """The Idempotency-Keys (messageIds) Seg website ``store`` answered 2xx, in order."""
    return [r.headers["Idempotency-Key"] for r in sandbox.delivered() if r.website_id == store]


@pytest.mark.django_db(transaction=True)
def test_a_customer_of_two_stores_is_two_customers_at_seg_each_in_order(
    live_server: Any, sandbox: Sandbox, start_worker: Any, two_stores: Any
) -> None:
    """Ann shops in both stores. Store B's Seg asks for a pause on her first event:
    only store B waits, and each store gets her events in her order."""
    start = datetime.now(UTC) - timedelta(minutes=5)
    in_a, in_b = shopping("a", 6, start), shopping("b", 6, start + timedelta(milliseconds=500))
    sandbox.script_key(in_b[0]["messageId"], Answer(503, headers={"Retry-After": "8"}))
    start_worker(concurrency=2, SEG_DELIVERY_BATCH="1", **worker_env())
    post_all(live_server.url, KEY_B, in_b)
    post_all(live_server.url, KEY_A, in_a)
    a_ids, b_ids = [c["messageId"] for c in in_a], [c["messageId"] for c in in_b]
    wait_until(lambda: len(delivered_to(sandbox, STORE_A)) == len(a_ids), timeout=60)
    # Store B's pause (and Ann's first event there, to be retried) held back none of A's,
    # and none of Ann's later events at B went ahead of her first.
    assert delivered_to(sandbox, STORE_A) == a_ids
    assert delivered_to(sandbox, STORE_B) == []
    assert [r.website_id for r in sandbox.snapshot() if r.status == 503] == [STORE_B]
    wait_until(lambda: len(delivered_to(sandbox, STORE_B)) == len(b_ids), timeout=60)
    assert delivered_to(sandbox, STORE_B) == b_ids
    for store in (STORE_A, STORE_B):
        bodies = [r for r in sandbox.delivered() if r.website_id == store]
        assert {r.body["Email"] for r in bodies} == {EMAIL}
        assert bodies[0].action == "update-customer"  # a customer at each website
        assert all(r.path.startswith(f"/django/{store}/") for r in bodies)
    rows = Event.objects.filter(message_id__in=a_ids + b_ids)
    wait_until(lambda: rows.filter(status=Status.DELIVERED).count() == len(rows), timeout=30)
    assert {(e.website, e.status) for e in rows} == {
        (STORE_A, Status.DELIVERED),
        (STORE_B, Status.DELIVERED),
    }
    for attempt in Attempt.objects.filter(event__in=rows).select_related("event"):
        assert f"/django/{attempt.event.website}/" in attempt.url


@pytest.mark.django_db(transaction=True)
def test_one_stores_seg_down_leaves_the_other_delivering(
    live_server: Any, sandbox: Sandbox, start_worker: Any, two_stores: Any
) -> None:
    """Store A's Seg answers 500 until it comes back: its circuit opens, its events wait,
    and store B's are delivered meanwhile. Once A's Seg is back, its events follow."""
    sandbox.script_website(STORE_A, default=Answer(500))
    start_worker(
        concurrency=2,
        beat=True,
        SEG_BREAKER_THRESHOLD="3",
        SEG_BREAKER_COOLDOWN="2",
        SEG_RETRY_BASE="1",
        SEG_RETRY_CAP="2",
        **worker_env(),
    )
    start = datetime.now(UTC)
    a_calls, b_calls = [], []
    for n in range(10):  # ten customers a store, an identify and an order each
        a_calls += shopping(f"a{n}", 2, start, f"a{n}@example.com", f"a{n}")
        b_calls += shopping(f"b{n}", 2, start, f"b{n}@example.com", f"b{n}")
    post_all(live_server.url, KEY_A, a_calls)
    post_all(live_server.url, KEY_B, b_calls)
    b_ids = {c["messageId"] for c in b_calls}
    wait_until(lambda: b_ids <= set(delivered_to(sandbox, STORE_B)), timeout=60)
    wait_until(lambda: throttle.is_open(STORE_A), timeout=30)
    assert not throttle.is_open(STORE_B)
    a_rows = Event.objects.filter(website=STORE_A)
    assert a_rows.count() == 20 and not a_rows.filter(status=Status.DELIVERED).exists()
    assert not a_rows.filter(status=Status.FAILED).exists()  # they wait, they are not lost
    sent_to_a = sum(1 for r in sandbox.snapshot() if r.website_id == STORE_A)
    assert sent_to_a < 20  # the breaker stopped the hammering: not every event was tried
    sandbox.script_website(STORE_A, default=Answer(200))  # store A's Seg is back
    a_ids = {c["messageId"] for c in a_calls}
    wait_until(lambda: a_ids <= set(delivered_to(sandbox, STORE_A)), timeout=90)
    wait_until(lambda: a_rows.filter(status=Status.DELIVERED).count() == 20, timeout=30)
    assert not throttle.is_open(STORE_A)
    assert not [r for r in sandbox.snapshot() if r.website_id not in (STORE_A, STORE_B)]


# --- The dashboard and the events list ---------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_throttle")
def test_the_dashboard_shows_each_website_and_which_circuit_is_open(
    client: Client, two_stores: Any
) -> None:
    from django.contrib.auth.models import User
    from django.urls import reverse

    traits = {"traits": {"email": EMAIL}}
    for store, count in ((STORE_A, 3), (STORE_B, 2)):
        for i in range(count):
            api.track("ann", "Product Viewed", {"id": f"{i}"}, context=traits, website=store)
    two_stores.SEG_BREAKER_THRESHOLD = 1
    throttle.report(Verdict.RETRY, 500, None, website=STORE_B)
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "x"))
    html = client.get(reverse("admin:integrations_event_dashboard")).content.decode()
    assert f"the circuit is open for {STORE_B}." in html
    assert "The other websites' events go on." in html
    table = html[html.index('id="websites"') :]
    rows = {store: table[table.index(store) :].split("</tr>")[0] for store in (STORE_A, STORE_B)}
    assert "closed" in rows[STORE_A] and "<td>3</td>" in rows[STORE_A]
    assert "open: paused" in rows[STORE_B] and "<td>2</td>" in rows[STORE_B]
    listed = client.get(reverse("admin:integrations_event_changelist"), {"website": STORE_B})
    assert listed.status_code == 200 and "2 events" in listed.content.decode().replace("\n", " ")


@pytest.mark.django_db
def test_a_single_stores_dashboard_has_no_website_table(client: Client) -> None:
    from django.contrib.auth.models import User
    from django.urls import reverse

    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "x"))
    html = client.get(reverse("admin:integrations_event_dashboard")).content.decode()
    assert 'id="websites"' not in html


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_throttle")
def test_a_drain_leaves_the_backlog_of_a_website_whose_circuit_is_open(two_stores: Any) -> None:
    for store in (STORE_B, STORE_A):  # B's backlog is the longest due
        for i in range(5):
            traits = {"traits": {"email": f"{store[:4]}-{i}@example.com"}}
            api.track(f"u{i}", "Product Viewed", {"id": f"p{i}"}, context=traits, website=store)
    past = datetime.now(UTC) - timedelta(hours=1)
    for n, event in enumerate(Event.objects.order_by("pk")):
        Event.objects.filter(pk=event.pk).update(next_attempt_at=past + timedelta(seconds=n))
    two_stores.SEG_BREAKER_THRESHOLD = 1
    throttle.report(Verdict.RETRY, 500, None, website=STORE_B)
    first_a = Event.objects.filter(website=STORE_A).order_by("pk").first()
    assert first_a is not None
    now = datetime.now(UTC)
    due = Event.objects.filter(pk__in=claims.due_ids(Source.SERVER, now, 10))
    assert set(due.values_list("website", flat=True)) == {STORE_A}
    taken = claims.claim_many([first_a.pk], now, more=10)
    assert {claim.event.website for claim in taken} == {STORE_A}
    assert len(taken) == 5
    throttle.reset()  # B's circuit closes: its backlog drains again
    first_b = Event.objects.filter(website=STORE_B).order_by("pk")[0]
    later = claims.claim_many([first_b.pk], now, more=10)
    assert {claim.event.website for claim in later} == {STORE_B}
    assert len(later) == 5
