"""Erasing and suppressing a customer: every row of theirs goes, in batches, while a real
worker delivers; nothing of theirs reaches Seg after; their later calls are refused."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection, models
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import api, lifecycle
from integrations.delivery import loop
from integrations.dev import Sandbox
from integrations.dev.sandbox import Answer
from integrations.erasure import deletion, named, reach
from integrations.exceptions import ErasureError
from integrations.ingest import ingest, refusals
from integrations.models import (
    ErasureKind,
    ErasureRequest,
    Event,
    Identity,
    LiveSince,
    Source,
    Status,
    StatusChange,
    Suppression,
    SuppressionRule,
)

from .conftest import WRITE_KEY, wait_until
from .test_outbox import scans_of_the_events

# Ann's identifiers: each is found nowhere after she is erased.
ANN = ("ann@old.example", "ann@new.example", "u-ann-7", "anon-ann-1", "anon-ann-2", "anon-ann-3")
BOB = "bob@example.com"


def orders(who: str, email: str, count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "track",
            "messageId": f"{tag}-{i}",
            "userId": who,
            "event": "Order Completed" if i % 3 == 0 else "Product Viewed",
            "properties": {"orderId": f"{tag}-o{i}", "id": f"p{i}", "total": 10 + i},
            "context": {"traits": {"email": email}},
        }
        for i in range(count)
    ]


def ann_history() -> None:
    """Ann: anonymous history released by an identify, an alias, a held event of a second
    browser, events of a third, a history of status changes, and a rule naming her."""
    ingest([{"type": "page", "messageId": "a-p1", "anonymousId": "anon-ann-1", "name": "Home"}])
    ingest(
        [
            {
                "type": "identify",
                "messageId": "a-id",
                "userId": "u-ann-7",
                "anonymousId": "anon-ann-1",
                "traits": {"email": "ann@old.example", "firstName": "Ann"},
            },
            {
                "type": "alias",
                "messageId": "a-al",
                "previousId": "ann@old.example",
                "userId": "ann@new.example",
            },
        ]
    )
    # A browser whose page view is held: only a later call with her userId names it.
    ingest([{"type": "page", "messageId": "a-p2", "anonymousId": "anon-ann-2", "name": "Cart"}])
    ingest(
        [
            {
                "type": "track",
                "messageId": "a-t2",
                "userId": "u-ann-7",
                "anonymousId": "anon-ann-2",
                "event": "Product Viewed",
                "properties": {"id": "p9"},
            }
        ]
    )
    ingest(
        [
            {
                "type": "track",
                "messageId": "a-t3",
                "anonymousId": "anon-ann-3",
                "event": "Product Viewed",
                "properties": {"id": "p8"},
                "context": {"traits": {"email": "ann@new.example"}},
            }
        ]
    )
    ingest(orders("u-ann-7", "ann@new.example", 30, "a-o"))
    SuppressionRule.objects.create(email="ann@new.example", seg_event="CartViewed", reason="x")


def bob_history(tag: str, count: int = 20) -> list[str]:
    batch = orders("u-bob", BOB, count, tag)
    ingest(
        [
            {
                "type": "identify",
                "messageId": f"{tag}-id",
                "userId": "u-bob",
                "traits": {"email": BOB},
            }
        ]
    )
    ingest(batch)
    return [str(m["messageId"]) for m in batch]


def rows_naming(needles: tuple[str, ...]) -> list[str]:
    """Every row of every model of the app with a field holding one of ``needles``."""
    found = []
    for model in apps.get_app_config("integrations").get_models():
        fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.ForeignKey)]
        for row in model._default_manager.values_list("pk", *(f.attname for f in fields)):
            text = json.dumps([str(value) for value in row[1:]], default=str).lower()
            found += [f"{model.__name__} {row[0]}: {n}" for n in needles if n.lower() in text]
    return found


def ann_in(received: list[Any]) -> list[str]:
    text = [json.dumps([r.body, r.headers]).lower() for r in received]
    return [needle for needle in ANN for body in text if needle in body]


@pytest.mark.django_db(transaction=True)
def test_a_customer_is_erased_while_a_worker_delivers(
    sandbox: Sandbox, start_worker: Any, settings: Any
) -> None:
    settings.SEG_ERASURE_BATCH = 7  # many batches, each its own transaction
    settings.SEG_POST_DEADLINE = 2
    worker = start_worker(concurrency=2, SEG_LEASE="8", SEG_POST_DEADLINE="2")
    ann_history()
    bob_ids = bob_history("b1")
    wait_until(lambda: Event.objects.filter(status=Status.DELIVERED, email=BOB).count() >= 5)
    # History: a release from hold, and an operator's replay, leave status changes.
    wait_until(lambda: Event.objects.filter(message_id="a-o-1", status=Status.DELIVERED).exists())
    lifecycle.replay(Event.objects.filter(message_id="a-o-1"), "ops")
    assert StatusChange.objects.filter(event__message_id__in=("a-p1", "a-o-1")).count() >= 2
    # Slow answers: some of her posts are on the wire, others claimed or pending.
    sandbox.script(default=Answer(delay=0.2))
    ingest(orders("u-ann-7", "ann@new.example", 40, "a-late"))
    bob_ids += bob_history("b2", 20)
    wait_until(
        lambda: Event.objects.filter(status=Status.SENDING, email="ann@new.example").exists()
    )
    assert Event.objects.filter(status=Status.HELD, anonymous_id="anon-ann-2").exists()
    assert Event.objects.filter(email="ann@new.example", status=Status.DELIVERED).exists()

    record = api.erase(email="ann@old.example", suppress=True, by="dpo@shop")
    after = len(sandbox.snapshot())

    assert rows_naming(ANN) == []
    assert record.kind == ErasureKind.BOTH and record.requested_by == "dpo@shop"
    assert record.counts["event"] >= 70 and record.counts["attempt"] >= 1
    assert record.counts["statuschange"] >= 2
    assert record.counts["identity"] >= 2 and record.counts["alias"] == 1
    assert record.counts["suppressionrule"] == 1
    reached = [("email", e) for e in ANN[:2]] + [("user", u) for u in ("u-ann-7", ANN[1])]
    reached += [("anonymous", a) for a in ANN[3:]]  # an alias's userId is its new email
    assert sorted(record.digests) == sorted(refusals.digest(*each) for each in reached)
    assert record.seg_step_open and record.finished_at is not None

    # Bob is untouched and delivered in full; nothing of Ann's reaches Seg any more.
    wait_until(
        lambda: (
            Event.objects.filter(message_id__in=bob_ids, status=Status.DELIVERED).count()
            == len(bob_ids)
        ),
        timeout=60,
    )
    assert Identity.objects.filter(email=BOB).exists()
    time.sleep(2)
    assert ann_in(sandbox.snapshot()[after:]) == []
    assert rows_naming(ANN) == []

    # No outcome of a revoked claim was recorded against a deleted event.
    assert "IntegrityError" not in worker.log_path.read_text()
    # Replay and retry of everything find nothing of hers to bring back.
    lifecycle.replay(Event.objects.all(), "ops")
    lifecycle.retry(Event.objects.all(), "ops")
    assert rows_naming(ANN) == []


@pytest.mark.django_db(transaction=True)
def test_claims_before_the_request_are_waited_out_and_later_ones_revoked(settings: Any) -> None:
    settings.SEG_LEASE, settings.SEG_POST_DEADLINE = 3, 1
    settings.SEG_ORDER_PER_CUSTOMER = False  # the second is claimed beside the first
    ingest(orders("u-cy", "cy@example.com", 3, "c"))
    first, second, third = Event.objects.order_by("pk").values_list("pk", flat=True)
    assert not lifecycle.erasing()
    before = loop.claim_many([first], timezone.now())  # a worker's, before the request
    done: dict[str, Any] = {}
    started = time.monotonic()
    erasing = threading.Thread(target=lambda: done.update(record=api.erase(user_id="u-cy")))
    erasing.start()
    try:
        wait_until(lifecycle.erasing, timeout=5, every=0.01)
        # Claimed while the request runs: a worker reads ``erasing`` after its claim and
        # checks its claim before each post.
        after = loop.claim_many([second], timezone.now())
        assert lifecycle.erasing() and loop.holding(*after).exists()
    finally:
        erasing.join()
    took = time.monotonic() - started
    # Nobody stored an outcome for the claim made before: its lease was waited out (how
    # long the request takes is the erase benchmark's).
    assert took > 2.5
    assert done["record"].counts["event"] == 3 and not lifecycle.erasing()
    assert not Event.objects.filter(pk__in=(first, second, third)).exists()
    assert not loop.holding(*before).exists() and not loop.holding(*after).exists()


@pytest.mark.django_db(transaction=True)
def test_a_worker_posts_no_claim_revoked_while_its_batch_is_on_the_wire(
    sandbox: Sandbox, settings: Any
) -> None:
    settings.SEG_ORDER_PER_CUSTOMER = False
    ingest(orders("u-di", "di@example.com", 3, "di"))
    ids = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    sandbox.script(default=Answer(delay=1.5))
    # The request has begun (its record is unfinished), as when erase() waits for claims.
    ErasureRequest.objects.create(kind=ErasureKind.DELETE, requested_by="dpo")
    verdicts: list[Any] = []
    worker = threading.Thread(target=lambda: verdicts.extend(loop.deliver_many(ids)))
    worker.start()
    try:
        wait_until(lambda: sandbox.arrived >= 1, timeout=10, every=0.01)
        counts: Counter[str] = Counter()
        revoked = deletion.stop(reach(named(user_id="u-di")), timezone.now(), counts)
    finally:
        worker.join()
    # The post on the wire ended (its outcome maybe stored before the revocation); the two
    # claims behind it were revoked, and never posted.
    assert {r.event_id for r in revoked} >= set(ids[1:])
    assert len(verdicts) == 1 and sandbox.arrived == 1
    deletion.wait_out(revoked)
    assert deletion.delete_events(reach(named(user_id="u-di")), counts) == 3


@pytest.mark.django_db(transaction=True)
def test_suppression_refuses_calls_at_ingest_over_http_and_the_api_until_lifted() -> None:
    ingest(orders("u-dee", "dee@example.com", 3, "d"))
    ingest(
        [
            {
                "type": "identify",
                "messageId": "d-id",
                "userId": "u-dee",
                "anonymousId": "anon-dee",
                "traits": {"email": "dee@example.com"},
            }
        ]
    )
    record = api.erase(user_id="u-dee", suppress=True)
    assert Event.objects.count() == 0
    assert Suppression.objects.count() == 3  # email, userId, anonymousId

    client = Client()
    key = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    for body in (
        {
            "userId": "someone-new",
            "event": "Order Completed",
            "context": {"traits": {"email": "DEE@example.com"}},
        },
        {"anonymousId": "anon-dee", "event": "Product Viewed"},
    ):
        response = client.post(
            "/seg/v1/track",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=key,
        )
        assert response.status_code == 200 and response.json() == {"success": True}
    api.track("u-dee", "Order Completed", {"orderId": "9", "total": 1})
    api.identify("u-other", {"email": "dee@example.com"})
    api.alias("dee@example.com", "dee2@example.com")
    assert Event.objects.count() == 0 and Identity.objects.count() == 0
    assert sum(Suppression.objects.values_list("refused", flat=True)) == 5
    assert rows_naming(("dee@example.com", "u-dee", "anon-dee")) == []

    # Another customer in the same batch is stored.
    result = ingest(
        orders("u-dee", "dee@example.com", 1, "d2") + orders("u-eve", "eve@example.com", 1, "e")
    )
    assert (result.stored, result.refused) == (1, 1)

    lifted = api.unsuppress(email="dee@example.com", by="dpo")
    assert lifted.kind == ErasureKind.UNSUPPRESS and lifted.counts == {"suppressions": 3}
    assert Suppression.objects.count() == 0 and not lifted.seg_to_tell
    api.track(
        "u-dee",
        "Order Completed",
        {"orderId": "10", "total": 1},
        context={"traits": {"email": "dee@example.com"}},
    )
    assert Event.objects.filter(user_id="u-dee").count() == 1
    assert record.digests and not set(record.digests) & {"dee@example.com", "u-dee"}


@pytest.mark.django_db
def test_a_request_names_someone() -> None:
    with pytest.raises(ErasureError):
        api.erase()
    with pytest.raises(ErasureError):
        api.erase(email="not an email")
    assert ErasureRequest.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_command_erases_and_marks_seg_told(capsys: Any) -> None:
    ingest(orders("u-fay", "fay@example.com", 3, "f"))
    call_command("seg_erase", "--email", "fay@example.com", "--yes", "--by", "dpo")
    out = capsys.readouterr().out
    assert "3 event" in out and "seg_erase --seg-told" in out
    record = ErasureRequest.objects.get()
    assert (record.kind, record.requested_by, record.seg_step_open) == ("delete", "dpo", True)
    call_command("seg_erase", "--seg-told", str(record.pk), "--by", "dpo")
    record.refresh_from_db()
    assert not record.seg_step_open and record.seg_told_by == "dpo"
    assert Event.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_admin_erases_after_a_confirmation_with_its_own_permission(client: Client) -> None:
    ingest(orders("u-gus", "gus@example.com", 4, "g"))
    staff = User.objects.create_user("clerk", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_erasurerequest"))
    client.force_login(staff)
    url = "/admin/integrations/erasurerequest/erase/"
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="erase_customer"))
    assert client.get(url).status_code == 200
    form = {"email": "gus@example.com", "user_id": "", "kind": "both"}
    confirm = client.post(url, form)
    assert confirm.status_code == 200 and b"4 events" in confirm.content
    assert Event.objects.count() == 4  # nothing done before the confirmation
    done = client.post(url, form | {"confirmed": "yes"})
    assert done.status_code == 302
    record = ErasureRequest.objects.get()
    assert record.requested_by == "clerk" and record.counts["event"] == 4
    assert Event.objects.count() == 0 and Suppression.objects.count() == 2
    listing = client.get("/admin/integrations/erasurerequest/")
    assert b"still to do" in listing.content
    client.post(
        "/admin/integrations/erasurerequest/",
        {"action": "mark_seg_told", "_selected_action": [record.pk]},
    )
    record.refresh_from_db()
    assert record.seg_told_by == "clerk"


@pytest.mark.django_db(transaction=True)
def test_erasing_where_the_server_sends_nothing_never_searches_the_events() -> None:
    # When live calls began is recorded before a customer's server events go: looked for
    # only when they have some, never in the whole table of a shop whose server is silent.
    ingest(orders("u-gus", "gus@example.com", 3, "g"), source=Source.BACKFILL)
    with CaptureQueriesContext(connection) as queries:
        assert api.erase(email="gus@example.com").counts["event"] == 3
    assert scans_of_the_events(queries.captured_queries) == []
    assert not LiveSince.objects.exists()
    ingest(orders("u-hal", "hal@example.com", 2, "h"))  # the shop's server, live
    api.erase(email="hal@example.com")
    assert LiveSince.objects.get().at is not None and not Event.objects.exists()
