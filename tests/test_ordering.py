"""Delivery order per customer: one test per clause of the rule, against the real sandbox."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.db import connection, transaction
from django.utils import timezone

from integrations import conf
from integrations.core import Verdict
from integrations.delivery import loop as delivery
from integrations.delivery import outbox, tracker
from integrations.dev.sandbox import Answer, Sandbox
from integrations.ingest import ingest
from integrations.lifecycle import operations, ordering
from integrations.models import Event, Source, Status

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
ANN, BOB = "ann@example.com", "bob@example.com"


def call(
    kind: str = "track", minute: int = 0, email: str | None = ANN, **fields: Any
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": kind,
        "messageId": f"m-{uuid.uuid4().hex[:12]}",
        "timestamp": (T0 + timedelta(minutes=minute)).isoformat(),
    }
    if kind == "track":
        message |= {"event": "Product Viewed", "properties": {"id": f"p-{minute}"}}
    if email:
        message["userId"] = f"user-{email}"
        message["context"] = {"traits": {"email": email}}
    return message | fields


def stored(*messages: dict[str, Any]) -> list[Event]:
    """Store each message in its own request, in the order given; the rows in that order."""
    for message in messages:
        assert ingest([message]).stored == 1
    return [Event.objects.get(message_id=m["messageId"]) for m in messages]


def arrived(sandbox: Sandbox) -> list[str]:
    """The Idempotency-Keys Seg received, each time, in the order they came."""
    return [r.headers["Idempotency-Key"] for r in sandbox.snapshot()]


def deliver_all(events: list[Event], rounds: int = 10) -> None:
    """Run delivery tasks over every id until nothing is due: each round, what is claimable."""
    for _ in range(rounds):
        if not delivery.deliver_many([e.pk for e in events]):
            return


def keys(*events: Event) -> list[str]:
    """The Idempotency-Keys of these events' requests (a page's carry ``browser:``)."""
    return [tracker.request_key(e.message_id, e.source) for e in events]


def due_now(*events: Event) -> None:
    Event.objects.filter(pk__in=[e.pk for e in events]).update(next_attempt_at=timezone.now())


def test_an_event_is_not_posted_while_an_earlier_one_of_its_customer_is_pending(
    sandbox: Sandbox,
) -> None:
    first, second = stored(call(minute=0), call(minute=1))
    sandbox.script(Answer(status=500))
    assert delivery.deliver_many([first.pk, second.pk]) == [Verdict.RETRY]
    assert delivery.deliver(second.pk) is None  # the first is pending, to be retried
    assert arrived(sandbox) == keys(first)
    due_now(first)
    deliver_all([first, second])
    assert arrived(sandbox) == keys(first, first, second)


def test_one_claim_takes_a_customers_run_and_posts_it_in_the_shops_order(
    sandbox: Sandbox,
) -> None:
    later, first, second = stored(call(minute=3), call(minute=0), call(minute=1))
    assert delivery.deliver_many([later.pk, first.pk, second.pk]) == [Verdict.DELIVERED] * 3
    assert arrived(sandbox) == keys(first, second, later)


def test_a_run_stops_at_the_first_event_to_be_retried_and_others_go_on(
    sandbox: Sandbox,
) -> None:
    first, second, third, bobs = stored(
        call(minute=0), call(minute=1), call(minute=2), call(minute=1, email=BOB)
    )
    sandbox.script(Answer(status=500))
    batch = [first.pk, second.pk, third.pk, bobs.pk]
    assert delivery.deliver_many(batch) == [Verdict.RETRY, Verdict.DELIVERED]
    assert arrived(sandbox) == keys(first, bobs)
    for waiting in Event.objects.filter(pk__in=[second.pk, third.pk]):
        assert (waiting.status, waiting.attempts) == (Status.PENDING, 0)  # given back, unposted
    due_now(first, second, third)
    deliver_all([first, second, third])
    assert arrived(sandbox) == keys(first, bobs, first, second, third)


def test_a_run_waits_for_an_earlier_event_outside_the_claim(sandbox: Sandbox) -> None:
    first, second, third = stored(call(minute=0), call(minute=1), call(minute=2))
    assert delivery.deliver_many([second.pk, third.pk]) == []
    assert arrived(sandbox) == []
    deliver_all([first, second, third])
    assert arrived(sandbox) == keys(first, second, third)


def test_an_event_is_not_posted_while_an_earlier_one_is_sending(sandbox: Sandbox) -> None:
    first, second = stored(call(minute=0), call(minute=1))
    assert delivery.claim(first.pk, timezone.now()) is not None  # another worker's, in flight
    assert delivery.deliver_many([first.pk, second.pk]) == []
    assert arrived(sandbox) == []
    # The lease lapses (the worker died): the first is taken again, still before the second.
    Event.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    deliver_all([first, second])
    assert arrived(sandbox) == keys(first, second)


def test_earlier_is_by_the_shops_timestamp_then_by_receipt(sandbox: Sandbox) -> None:
    received_first, earlier, same_time = stored(call(minute=5), call(minute=2), call(minute=5))
    deliver_all([received_first, earlier, same_time])
    assert arrived(sandbox) == keys(earlier, received_first, same_time)


@pytest.mark.parametrize(
    "status", [Status.FAILED, Status.SUPPRESSED, Status.IGNORED, Status.EXPIRED]
)
def test_an_earlier_event_that_is_no_longer_outstanding_blocks_nothing(
    sandbox: Sandbox, status: str
) -> None:
    first, second = stored(call(minute=0), call(minute=1))
    Event.objects.filter(pk=first.pk).update(status=status, next_attempt_at=None)
    assert delivery.deliver(second.pk) is Verdict.DELIVERED


def test_a_failure_and_an_ignored_call_block_nothing_as_they_happen(sandbox: Sandbox) -> None:
    refused, ignored, after = stored(
        call(minute=0), call(minute=1, event="Coupon Entered"), call(minute=2)
    )
    assert ignored.status == Status.IGNORED
    sandbox.script(Answer(status=422))
    deliver_all([refused, ignored, after])
    assert Event.objects.get(pk=refused.pk).status == Status.FAILED
    assert arrived(sandbox) == keys(refused, after)


def test_other_customers_flow_while_one_waits(sandbox: Sandbox) -> None:
    ann_first, ann_second, bob_first, bob_second = stored(
        call(minute=0), call(minute=1), call(minute=2, email=BOB), call(minute=3, email=BOB)
    )
    sandbox.script_key(ann_first.message_id, Answer(status=500))
    ids = [ann_first.pk, ann_second.pk, bob_first.pk, bob_second.pk]
    # Bob's run goes on in the same claim; Ann's second waits for her first.
    assert delivery.deliver_many(ids) == [Verdict.RETRY, Verdict.DELIVERED, Verdict.DELIVERED]
    assert delivery.deliver_many(ids) == []
    assert arrived(sandbox) == keys(ann_first, bob_first, bob_second)


def test_with_the_setting_off_events_go_out_as_claimed(sandbox: Sandbox, settings: Any) -> None:
    settings.SEG_ORDER_PER_CUSTOMER = False
    first, second = stored(call(minute=0), call(minute=1))
    sandbox.script(Answer(status=500))
    assert delivery.deliver_many([first.pk, second.pk]) == [Verdict.RETRY, Verdict.DELIVERED]
    assert arrived(sandbox) == keys(first, second)


def queued_ids(client: redis.Redis) -> list[str]:
    """The task arguments waiting in the broker's queue, as Celery writes them."""
    messages = [json.loads(raw) for raw in client.lrange("seg", 0, -1)]
    return [m["headers"]["argsrepr"] for m in messages]


@pytest.mark.parametrize("outcome", ["delivered", "failed", "suppressed"])
def test_the_event_that_waited_is_queued_as_soon_as_the_earlier_one_is_done(
    sandbox: Sandbox,
    broker: redis.Redis,
    outcome: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    first, second, later = stored(call(minute=0), call(minute=1), call(minute=2))
    sandbox.script(Answer(status=500))
    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliver_many([first.pk, second.pk, later.pk])
    broker.delete("seg")  # the retry's own countdown
    Event.objects.filter(pk=second.pk).update(enqueued_at=None)
    due_now(first)
    with django_capture_on_commit_callbacks(execute=True):
        if outcome == "suppressed":
            operations.suppress(Event.objects.filter(pk=first.pk), "ops", "not wanted")
        else:
            sandbox.script(Answer(status=200 if outcome == "delivered" else 422))
            delivery.deliver(first.pk)
    # The customer's run behind it, in one task, in the shop's order.
    assert queued_ids(broker) == [f"([{second.pk}, {later.pk}],)"]
    assert Event.objects.get(pk=second.pk).enqueued_at is not None


def test_the_run_woken_stops_at_an_event_not_due_and_at_the_batch_size(
    sandbox: Sandbox, broker: redis.Redis, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SEG_DELIVERY_BATCH = 3
    first, *rest = stored(*(call(minute=m) for m in range(5)))
    other_first, other_second, _ = stored(*(call(minute=m, email=BOB) for m in range(3)))
    # Bob's second retries in an hour: his third waits behind it, unqueued.
    later = timezone.now() + timedelta(hours=1)
    Event.objects.filter(pk=other_second.pk).update(next_attempt_at=later)
    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliver_many([first.pk, other_first.pk])
    assert arrived(sandbox) == keys(first, other_first)
    tasks = sorted(queued_ids(broker))
    # Ann's next three (the batch size), in order; of Bob's, nothing (his first is not due).
    assert tasks == [f"([{rest[0].pk}, {rest[1].pk}, {rest[2].pk}],)"]


def test_the_sweeper_leaves_a_waiting_event_alone_until_it_is_first(sandbox: Sandbox) -> None:
    requeue_after = conf.get_setting("SEG_REQUEUE_AFTER")
    first, second = stored(call(minute=0), call(minute=1))
    sandbox.script(Answer(status=503, headers={"Retry-After": "3600"}))
    assert delivery.deliver_many([first.pk, second.pk]) == [Verdict.RETRY]
    # Long after its wake-up was spent, the second still waits on the first,
    # which waits on Seg: not queued, and marked so the next passes skip it.
    later = timezone.now() + requeue_after + timedelta(seconds=1)
    assert outbox.sweep(later).queued == 0
    assert Event.objects.get(pk=second.pk).enqueued_at == later
    with transaction.atomic():
        assert list(outbox.orphans(later, later - timedelta(seconds=1), 10)) == []
    Event.objects.filter(pk=first.pk).update(status=Status.DELIVERED, next_attempt_at=None)
    # Its own wake-up lost, the sweeper queues it once it is first in line.
    assert outbox.sweep(later + requeue_after + timedelta(seconds=1)).queued == 1


def test_a_hold_released_later_goes_before_the_customers_later_events(sandbox: Sandbox) -> None:
    browsed = call(minute=0, email=None, anonymousId="v1", event="Viewed Product Category")
    known = call(minute=1, userId="u1")  # the customer, known by email, on another device
    identify = call("identify", minute=2, email=None, userId="u1", anonymousId="v1")
    identify["traits"] = {"email": ANN}
    held, later = stored(browsed, known)
    assert held.status == Status.HELD
    sandbox.script(Answer(status=500))
    assert delivery.deliver(later.pk) is Verdict.RETRY
    [identified] = stored(identify)
    held.refresh_from_db()
    assert (held.status, held.email) == (Status.PENDING, ANN)
    due_now(later)
    deliver_all([held, later, identified])
    # The later event's first try went before the visitor was known; since then, shop order.
    assert arrived(sandbox) == keys(later, held, later, identified)


def test_an_alias_waits_for_the_old_emails_events_and_the_new_ones_wait_for_it(
    sandbox: Sandbox,
) -> None:
    new = "ann.new@example.com"
    old_order = call(minute=0, event="Order Completed", properties={"orderId": "o1"})
    alias = call("alias", minute=1, email=None, previousId=ANN, userId=new)
    after = call(minute=2)  # still says the old email; sent with the new one
    ordered, moved, later = stored(old_order, alias, after)
    assert (moved.email, later.email) == (new, new)
    sandbox.script_key(ordered.message_id, Answer(status=500))
    deliver_all([ordered, moved, later], rounds=1)
    assert arrived(sandbox) == keys(ordered)
    due_now(ordered)
    deliver_all([ordered, moved, later])
    assert arrived(sandbox) == keys(ordered, ordered, moved, later)


@pytest.fixture
def locked_by_another_worker() -> Iterator[Any]:
    """Hold a row lock on an event from another connection, as a worker mid-claim does."""
    started, release = threading.Event(), threading.Event()

    def lock(pk: int) -> None:
        def hold() -> None:
            try:
                with transaction.atomic():
                    list(Event.objects.select_for_update().filter(pk=pk))
                    started.set()
                    release.wait(10)
            finally:
                connection.close()

        threading.Thread(target=hold, daemon=True).start()
        started.wait(10)

    yield lock
    release.set()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has no row locks: its writers take turns"
)
def test_a_worker_never_takes_the_second_while_another_claims_the_first(
    sandbox: Sandbox, locked_by_another_worker: Any
) -> None:
    first, second = stored(call(minute=0), call(minute=1))
    locked_by_another_worker(first.pk)
    # The first is skipped as locked; the second, still behind a pending first, is not taken.
    assert delivery.claim_many([first.pk, second.pk], timezone.now()) == []
    assert arrived(sandbox) == []


def test_a_pages_event_never_holds_back_the_servers_but_waits_on_them(sandbox: Sandbox) -> None:
    # A public key may name any email: its events must not stand in front of an order.
    assert ingest([call(minute=0)], source=Source.BROWSER).stored == 1
    assert ingest([call(minute=2)], source=Source.BROWSER).stored == 1
    page, later_page = Event.objects.filter(source=Source.BROWSER).order_by("timestamp")
    (order,) = stored(call(minute=1))
    sandbox.script(Answer(status=500), Answer(status=500))
    assert delivery.deliver(page.pk) is Verdict.RETRY  # the page's event is retried later
    assert delivery.deliver(order.pk) is Verdict.RETRY  # not held back by it
    assert delivery.deliver(later_page.pk) is None  # waits on the order ahead of it
    assert ordering.heads([order.pk], timezone.now()) == []
    due_now(page, order)
    woken = sorted(ordering.heads([order.pk], timezone.now()))  # both runs of the line
    assert woken == sorted([page.pk, later_page.pk, order.pk])
    deliver_all([page, order, later_page])
    assert arrived(sandbox) == keys(page, order, page, order, later_page)
