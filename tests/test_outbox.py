"""The sweeper finds orphaned due events; holds expire; retention deletes in batches."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import api
from integrations.delivery import outbox
from integrations.ingest import ingest
from integrations.lifecycle import operations
from integrations.models import Event, Identity, LiveSince, Source, Status

pytestmark = pytest.mark.django_db


def queued_ids(broker: redis.Redis) -> list[int]:
    """Event ids in the queued wake-ups: delivery tasks, or fan-outs of many."""
    ids: list[int] = []
    for raw in broker.lrange("seg", 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        task = message["headers"]["task"]
        ids += [args[0]] if task == "integrations.deliver_event" else args[0]
    return sorted(ids)


def make(n: int, **fields: Any) -> list[Event]:
    ids = [
        api.track(
            "u1",
            "Product Viewed",
            {"id": str(i)},
            context={"traits": {"email": f"{i}-{uuid.uuid4().hex[:8]}@b.co"}},
        )
        for i in range(n)
    ]
    Event.objects.filter(message_id__in=ids).update(**fields)
    return list(Event.objects.filter(message_id__in=ids).order_by("id"))


def test_sweeper_queues_only_orphans(broker: redis.Redis) -> None:
    now = timezone.now()
    never_queued = make(2, enqueued_at=None, next_attempt_at=now)
    lost = make(1, enqueued_at=now - timedelta(minutes=10), next_attempt_at=now)
    live = make(1, enqueued_at=now - timedelta(seconds=5), next_attempt_at=now)
    dead_worker = make(1, status=Status.SENDING, enqueued_at=None, next_attempt_at=now)
    future = make(1, enqueued_at=None, next_attempt_at=now + timedelta(hours=1))
    delivered = make(1, status=Status.DELIVERED, enqueued_at=None, next_attempt_at=now)
    result = outbox.sweep(now + timedelta(seconds=1))
    expected = sorted(e.pk for e in never_queued + lost + dead_worker)
    assert result.queued == len(expected)
    requeued = Event.objects.filter(enqueued_at__gt=now).values_list("pk", flat=True)
    assert sorted(requeued) == expected
    assert not {e.pk for e in live + future + delivered} & set(expected)


def test_sweeper_publishes_to_redis(
    broker: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    events = make(3, enqueued_at=None, next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        outbox.sweep()
    assert queued_ids(broker) == sorted(e.pk for e in events)


@pytest.mark.django_db(transaction=True)
def test_overlapping_sweeps_queue_each_event_once(broker: redis.Redis) -> None:
    make(200, enqueued_at=None, next_attempt_at=timezone.now())
    broker.flushdb()  # the wake-ups queued as the events were stored
    start = threading.Barrier(4)
    results: list[int] = []

    def sweep() -> None:
        try:
            start.wait()
            results.append(outbox.sweep().queued)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, reverse=True)[0] > 0
    assert sum(results) == 200
    assert queued_ids(broker) == sorted(Event.objects.values_list("pk", flat=True))


@pytest.mark.redis
def test_holds_expire(seg_settings: Any) -> None:
    api.page(anonymous_id="anon", name="Home", message_id="h1")
    api.page(anonymous_id="anon", name="Home", message_id="h2")
    Event.objects.filter(message_id="h1").update(received_at=timezone.now() - timedelta(days=8))
    assert outbox.sweep().expired == 1
    assert Event.objects.get(message_id="h1").status == Status.EXPIRED
    assert Event.objects.get(message_id="h2").status == Status.HELD


def test_retention_deletes_every_old_end_state_and_keeps_what_is_on_its_way(
    seg_settings: Any,
) -> None:
    seg_settings.SEG_RETENTION_BATCH = 2
    old = timezone.now() - timedelta(days=40)
    ended = (Status.DELIVERED, Status.IGNORED, Status.FAILED, Status.EXPIRED, Status.SUPPRESSED)
    for status in ended:
        make(2, status=status, received_at=old)
    kept = make(1, status=Status.PENDING, received_at=old) + make(
        1, status=Status.SENDING, received_at=old
    )
    kept += make(1, status=Status.HELD, received_at=old)  # the server's: held for its hold
    kept += [event for status in ended for event in make(1, status=status)]  # recent
    assert outbox.purge() == 2 * len(ended)
    assert sorted(Event.objects.values_list("pk", flat=True)) == sorted(e.pk for e in kept)


def from_page(status: Status, age: timedelta, email: str = "") -> Event:
    """A page's event (a browser key's) in ``status``, received ``age`` ago."""
    message = {"type": "page", "anonymousId": f"v-{uuid.uuid4().hex[:8]}", "name": "Home"}
    assert ingest([message], source=Source.BROWSER).stored == 1
    event = Event.objects.latest("pk")
    Event.objects.filter(pk=event.pk).update(
        status=status, email=email, received_at=timezone.now() - age
    )
    return event


def test_a_pages_events_that_never_got_an_email_go_after_the_browser_retention(
    seg_settings: Any,
) -> None:
    seg_settings.SEG_BROWSER_RETENTION = timedelta(days=1)
    gone = [
        from_page(Status.HELD, timedelta(days=2)),  # still held: deleted all the same
        from_page(Status.EXPIRED, timedelta(days=8)),
    ]
    kept = [
        from_page(Status.HELD, timedelta(hours=20)),
        from_page(Status.PENDING, timedelta(days=2), email="ann@example.com"),
        from_page(Status.DELIVERED, timedelta(days=2), email="ann@example.com"),
        *make(1, status=Status.HELD, received_at=timezone.now() - timedelta(days=2)),
    ]
    assert outbox.purge() == len(gone)
    assert sorted(Event.objects.values_list("pk", flat=True)) == sorted(e.pk for e in kept)


def test_what_pages_claimed_goes_after_the_browser_retention_the_servers_word_stays(
    seg_settings: Any,
) -> None:
    seg_settings.SEG_BROWSER_RETENTION = timedelta(days=1)
    old, recent = timezone.now() - timedelta(days=2), timezone.now() - timedelta(hours=2)
    Identity.objects.bulk_create(
        [
            Identity(kind="anonymous", value="a1", source=Source.BROWSER, updated_at=old),
            Identity(kind="anonymous", value="a2", source=Source.BROWSER, updated_at=recent),
            Identity(kind="anonymous", value="a1", source=Source.SERVER, updated_at=old),
            Identity(kind="user", value="u1", source=Source.SERVER, updated_at=old),
        ]
    )
    outbox.purge()
    assert sorted(Identity.objects.values_list("value", "source")) == [
        ("a1", Source.SERVER),
        ("a2", Source.BROWSER),
        ("u1", Source.SERVER),
    ]


def test_a_held_event_released_as_retention_runs_is_kept(seg_settings: Any) -> None:
    held = from_page(Status.HELD, timedelta(days=2))
    rows = Event.objects.filter(pk=held.pk)
    Event.objects.filter(pk=held.pk).update(status=Status.PENDING, email="ann@example.com")
    assert outbox.delete_ended(rows, unverified=True) == 0
    assert rows.exists()


@pytest.mark.parametrize(
    ("unverified", "indexes"),
    [(False, {"seg_event_status"}), (True, {"seg_event_unverified_any", "seg_event_email"})],
)
def test_retention_reads_an_index_never_the_table(unverified: bool, indexes: set[str]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask what it may use
        plan = outbox.deletable(timezone.now(), unverified).explain()
    if connection.vendor == "postgresql":  # on a tiny table it may take any index but this
        indexes = {"seg_event_unverified_any"} if unverified else {"Index"}
    assert any(index in plan for index in indexes), plan
    assert "Seq Scan" not in plan and "SCAN integrations_event" not in plan, plan


def test_bulk_retry_returns_failed_to_pending() -> None:
    make(3, status=Status.FAILED, attempts=5, tries=5, next_attempt_at=None)
    make(1, status=Status.DELIVERED)
    assert operations.retry(Event.objects.all(), "ops") == 3
    retried = Event.objects.filter(status=Status.PENDING, tries=0, attempts=5, enqueued_at=None)
    assert retried.count() == 3


def scans_of_the_events(queries: list[dict[str, str]]) -> list[str]:
    """The captured queries that read the whole events table (its rows, or a whole index
    of it), by the database's own plan."""
    found = []
    for query in queries:
        sql = query["sql"]
        if not sql.startswith("SELECT") or "integrations_event" not in sql:
            continue
        # In a transaction of its own, where SET LOCAL holds (the test may run in
        # autocommit): PostgreSQL then reads a small table through an index only if one
        # serves the query, as it would a large one.
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute(f"EXPLAIN {sql}")
            else:
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = " ".join(str(row) for row in cursor.fetchall())
        if "Seq Scan" in plan or "SCAN integrations_event" in plan:
            found.append(f"{sql}: {plan}")
    return found


def test_retention_where_the_server_sends_nothing_never_searches_the_table(
    seg_settings: Any,
) -> None:
    # When live calls began is recorded before the first server event goes: looked for
    # among the keys of a batch about to be deleted, never in the whole table.
    gone = [from_page(Status.DELIVERED, timedelta(days=40), email="ann@example.com")]
    gone.append(from_page(Status.EXPIRED, timedelta(days=8)))
    with CaptureQueriesContext(connection) as queries:
        assert outbox.purge() == len(gone)
    assert scans_of_the_events(queries.captured_queries) == []
    assert not LiveSince.objects.exists()
    # A batch holding a server event: recorded before it goes.
    (first,) = make(1, status=Status.DELIVERED, received_at=timezone.now() - timedelta(days=40))
    assert outbox.purge() == 1
    assert LiveSince.objects.get().at == min(first.received_at, first.timestamp)
