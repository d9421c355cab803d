"""Benchmarks: each figure beside a raw baseline measured in the same run.

Run with scripts/bench.sh (PostgreSQL and Redis, started when absent). Prints
a table and writes benchmarks/results.json. Sizes can be cut for a quick look
with BENCH_SCALE=0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "segproject.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
for key, value in {
    "SEG_WEBSITE_ID": "abc8fb18-7559-4324-9921-a4b5015b4a1c",
    "SEG_WRITE_KEYS": "bench-write-key",
    "SEG_RATE_LIMIT": "0",
}.items():
    os.environ.setdefault(key, value)

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from benchmarks import backfill, browser, erase, flood, harness, pgwork, scrape  # noqa: E402
from benchmarks.harness import Row, median, percentile  # noqa: E402
from integrations import api  # noqa: E402
from integrations.core import validate  # noqa: E402
from integrations.delivery import outbox  # noqa: E402
from integrations.ingest.identity import Resolver  # noqa: E402
from integrations.ingest.store import _Batch  # noqa: E402
from integrations.lifecycle import operations  # noqa: E402
from integrations.lifecycle import wakeups as dispatch  # noqa: E402
from integrations.models import Event, Source, Status  # noqa: E402

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
RESULTS = Path(__file__).parent / "results.json"
AUTH = (harness.WRITE_KEY, "")


def n(count: int) -> int:
    return max(int(count * SCALE), 10)


def message(i: int, tag: str) -> dict[str, Any]:
    kind = i % 4
    base: dict[str, Any] = {
        "type": "track",
        "messageId": f"{tag}-{i}",
        "userId": f"user-{i % 5000}",
        "timestamp": "2026-11-28T10:00:00.000Z",
        "context": {
            "traits": {"email": f"customer{i % 5000}@example.com"},
            "page": {"url": f"https://shop.example/p/{i}", "title": "Monopoly | Shop"},
            "library": {"name": "analytics-python", "version": "2.4.0"},
        },
    }
    if kind == 0:
        base |= {
            "event": "Order Completed",
            "properties": {
                "orderId": f"o-{tag}-{i}",
                "total": 30,
                "revenue": 25,
                "currency": "USD",
                "products": [
                    {
                        "id": "507f1f77bcf86cd799439011",
                        "sku": "45790-32",
                        "name": "Monopoly",
                        "price": 19,
                        "quantity": 1,
                        "categories": ["Games"],
                    }
                ],
            },
        }
    elif kind == 1:
        base |= {
            "event": "Product Viewed",
            "properties": {
                "id": f"p{i}",
                "name": "Monopoly",
                "price": 18.99,
                "category": "Games",
                "brands": ["Hasbro"],
            },
        }
    elif kind == 2:
        base |= {
            "event": "Product Added",
            "properties": {"id": f"p{i}", "price": "18.99", "quantity": 2},
        }
    else:
        base |= {
            "type": "page",
            "name": "Monopoly",
            "properties": {"url": f"https://shop.example/p/{i}"},
        }
    return base


def reset_events() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE integrations_attempt, integrations_statuschange, integrations_event, "
            "integrations_identity, integrations_alias RESTART IDENTITY CASCADE"
        )
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


def parallel(threads: int, work: Any) -> float:
    """Run work(index) in threads; the wall time in seconds."""
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start


# --- 1. ingest, batch -----------------------------------------------------
def bench_ingest_batch(base_url: str, clients: int = 4) -> Row:
    reset_events()
    batches = n(300)
    bodies = [
        json.dumps(
            {"batch": [message(b * 100 + i, f"ib{uuid.uuid4().hex[:6]}") for i in range(100)]}
        ).encode()
        for b in range(batches)
    ]
    statuses: list[int] = []

    def post(index: int) -> None:
        with requests.Session() as session:
            for body in bodies[index::clients]:
                r = session.post(
                    f"{base_url}/seg/v1/batch",
                    data=body,
                    auth=AUTH,
                    headers={"Content-Type": "application/json"},
                    timeout=60,
                )
                statuses.append(r.status_code)

    elapsed = parallel(clients, post)
    stored = Event.objects.count()
    assert stored == batches * 100 and set(statuses) == {200}, (stored, set(statuses))
    rate = stored / elapsed

    # Baseline: the same rows, already built, written with bulk_create at the same concurrency.
    reset_events()
    now = timezone.now()
    rows_by_batch = []
    for body in bodies:
        batch = _Batch(now, Resolver(), Source.SERVER)
        for raw in json.loads(body)["batch"]:
            batch.add(validate(raw), raw)
        rows_by_batch.append(batch.rows)

    def insert(index: int) -> None:
        for rows in rows_by_batch[index::clients]:
            with transaction.atomic():
                Event.objects.bulk_create(rows)
        connection.close()

    base_elapsed = parallel(clients, insert)
    baseline = batches * 100 / base_elapsed
    return Row(
        "ingest, batch of 100 over HTTP",
        rate,
        "events/s",
        baseline,
        ">= 50% of baseline",
        rate >= 0.5 * baseline,
        f"{clients} clients, gunicorn; baseline bulk_create, {clients} threads",
    )


# --- 2. ingest, single ------------------------------------------------------
def bench_ingest_single(base_url: str) -> list[Row]:
    reset_events()
    # Each call to its own endpoint (a page to /v1/page), as a client sends it.
    messages = [message(i, f"is{uuid.uuid4().hex[:6]}") for i in range(n(40000))]
    bodies = [(m["type"], json.dumps(m).encode()) for m in messages]
    counter = iter(range(len(bodies)))
    lock = threading.Lock()

    def take() -> tuple[str, bytes] | None:
        with lock:
            i = next(counter, None)
        return None if i is None else bodies[i]

    # Saturation: closed loop, many clients, for a fixed time.
    done = [0]
    stop_at = time.perf_counter() + 8 * max(SCALE, 0.5)

    def flood(_: int) -> None:
        with requests.Session() as session:
            while time.perf_counter() < stop_at and (call := take()) is not None:
                session.post(f"{base_url}/seg/v1/{call[0]}", data=call[1], auth=AUTH, timeout=30)
                with lock:
                    done[0] += 1

    elapsed = parallel(12, flood)
    saturation = done[0] / elapsed

    # At half the saturation rate, open loop: latency counts from the scheduled send.
    rate = saturation / 2
    clients = 8
    duration = 10 * max(SCALE, 0.5)
    latencies: list[float] = []

    def paced(index: int) -> None:
        interval = clients / rate
        start = time.perf_counter() + index * interval / clients
        k = 0
        with requests.Session() as session:
            while True:
                due = start + k * interval
                if due > start + duration:
                    return
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                call = take()
                if call is None:
                    return
                session.post(f"{base_url}/seg/v1/{call[0]}", data=call[1], auth=AUTH, timeout=30)
                with lock:
                    latencies.append((time.perf_counter() - due) * 1000)
                k += 1

    parallel(clients, paced)
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return [
        Row(
            "ingest, single track: saturation",
            saturation,
            "requests/s",
            note="12 clients, closed loop",
        ),
        Row(
            "ingest, single track at 50% of saturation: p50",
            p50,
            "ms",
            note=f"{rate:.0f} requests/s offered, open loop",
        ),
        Row(
            "ingest, single track at 50% of saturation: p99",
            p99,
            "ms",
            target="< 25 ms",
            met=p99 < 25,
        ),
    ]


# --- 3. the Python API inside a shop's transaction ---------------------------
def bench_python_api() -> list[Row]:
    reset_events()
    iterations = n(2000)

    def shop_order() -> None:
        Group.objects.create(name=uuid.uuid4().hex)

    def plain() -> float:
        start = time.perf_counter()
        with transaction.atomic():
            shop_order()
        return time.perf_counter() - start

    inside: list[float] = []

    def with_event() -> float:
        start = time.perf_counter()
        with transaction.atomic():
            shop_order()
            t = time.perf_counter()
            api.track(
                "u1",
                "Order Completed",
                {"orderId": uuid.uuid4().hex, "total": 30},
                context={"traits": {"email": "ann@example.com"}},
            )
            inside.append(time.perf_counter() - t)
        return time.perf_counter() - start

    for _ in range(50):  # warm up
        plain(), with_event()
    inside.clear()
    baseline = [plain() for _ in range(iterations)]
    measured = [with_event() for _ in range(iterations)]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        api.track(
            "u1", "Order Completed", {"orderId": "x"}, context={"traits": {"email": "a@b.co"}}
        )
    inserts = sum(q["sql"].lstrip().upper().startswith("INSERT") for q in queries)
    added_inside = median(inside) * 1000
    added_total = (median(measured) - median(baseline)) * 1000
    Group.objects.all().delete()
    return [
        Row(
            "Python API: time added inside the transaction",
            added_inside,
            "ms",
            median(baseline) * 1000,
            "< 1 ms",
            added_inside < 1,
            "baseline: the shop's own one-row transaction",
        ),
        Row(
            "Python API: INSERTs added to the transaction",
            inserts,
            "statements",
            target="<= 1",
            met=inserts <= 1,
            note=f"{len(queries)} statements in all",
        ),
        Row(
            "Python API: whole transaction, queueing after commit included",
            added_total,
            "ms added",
            note="the Redis publish after commit",
        ),
    ]


# --- 4. deliver -----------------------------------------------------------------
def pending_rows(count: int) -> list[Event]:
    now = timezone.now()
    batch = _Batch(now, Resolver(), Source.SERVER)
    for i in range(count):
        raw = message(i, f"d{uuid.uuid4().hex[:6]}")
        batch.add(validate(raw), raw)
    for row in batch.rows:
        row.enqueued_at = None
    return batch.rows


def bench_deliver(tracker: str, concurrency: int) -> Row:
    reset_events()
    count = n(3000)
    rows = pending_rows(count)
    Event.objects.bulk_create(rows, batch_size=1000)
    payloads = list(Event.objects.values_list("action", "payload", "message_id"))
    proc = harness.worker(concurrency, tracker)
    try:
        start = time.perf_counter()
        settings.SEG_SWEEP_BATCH = count
        outbox.sweep()
        harness.wait_for(
            lambda: Event.objects.filter(status=Status.DELIVERED).count() == count,
            timeout=900,
            every=0.1,
        )
        elapsed = time.perf_counter() - start
    finally:
        proc.stop()
    rate = count / elapsed

    url = f"{tracker}/django/{harness.WEBSITE_ID}/"

    def post(index: int) -> None:
        with requests.Session() as session:
            for action, payload, message_id in payloads[index::concurrency]:
                session.post(
                    url + action,
                    data=json.dumps(payload).encode(),
                    timeout=30,
                    headers={"Content-Type": "application/json", "Idempotency-Key": message_id},
                )

    baseline = count / parallel(concurrency, post)
    return Row(
        f"deliver, {concurrency} worker processes",
        rate,
        "events/s",
        baseline,
        ">= 70% of baseline",
        rate >= 0.7 * baseline,
        f"baseline: requests.Session.post loop, {concurrency} threads",
    )


def bench_pg_work(tracker: str) -> list[Row]:
    """PostgreSQL's work per event from the shop's transaction to delivered (pgwork)."""
    reset_events()
    return pgwork.measure(
        tracker,
        n(2000),
        message,
        pgwork.record,
        lambda: Event.objects.filter(status=Status.DELIVERED).count(),
    )


# Realistic traffic for the cost of per-customer order: many customers with a
# few events each, and a few with many (a busy account, a bot, a shop's test user).
FEW, FEW_EACH, MANY, MANY_EACH = 500, 4, 5, 200


def mixed_traffic() -> list[Event]:
    """FEW customers with FEW_EACH events and MANY with MANY_EACH, interleaved as they
    arrive, each with a timestamp a second after the one before."""
    lines = [(f"few{c}", FEW_EACH) for c in range(FEW)] + [
        (f"many{c}", MANY_EACH) for c in range(MANY)
    ]
    tag, calls = uuid.uuid4().hex[:6], []
    for step in range(max(FEW_EACH, MANY_EACH)):
        calls += [who for who, each in lines if step < each]
    now = timezone.now()
    batch = _Batch(now, Resolver(), Source.SERVER)
    for i, who in enumerate(calls):
        raw = message(i, f"o{tag}")
        raw["userId"] = who
        raw["context"]["traits"]["email"] = f"{who}@example.com"
        raw["timestamp"] = datetime.fromtimestamp(1_790_000_000 + i, UTC).isoformat()
        batch.add(validate(raw), raw)
    for row in batch.rows:
        row.enqueued_at = None
    return batch.rows


def deliver_mixed(tracker: str, concurrency: int, in_order: bool) -> float:
    """Events a second for the mixed traffic, every id queued at once, as the shop's
    requests queue them: a customer's later events meet the claim while earlier
    ones are outstanding."""
    reset_events()
    Event.objects.bulk_create(mixed_traffic(), batch_size=1000)
    ids = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    flag = "1" if in_order else "0"
    proc = harness.worker(concurrency, tracker, SEG_ORDER_PER_CUSTOMER=flag)
    try:
        start = time.perf_counter()
        dispatch.queue(ids)
        harness.wait_for(
            lambda: Event.objects.filter(status=Status.DELIVERED).count() == len(ids),
            timeout=900,
            every=0.1,
        )
        return len(ids) / (time.perf_counter() - start)
    finally:
        proc.stop()


def bench_deliver_in_order(tracker: str, concurrency: int) -> list[Row]:
    """The same mixed traffic delivered with SEG_ORDER_PER_CUSTOMER off, then on, in one run."""
    rates = {flag: deliver_mixed(tracker, concurrency, flag) for flag in (False, True)}
    shape = (
        f"{FEW} customers x {FEW_EACH} events and {MANY} x {MANY_EACH}, "
        f"{concurrency} worker processes"
    )
    return [
        Row(
            "deliver, mixed customers, per-customer order off",
            rates[False],
            "events/s",
            note=shape,
        ),
        Row(
            "deliver, mixed customers, per-customer order on",
            rates[True],
            "events/s",
            rates[False],
            note=f"baseline: the same with SEG_ORDER_PER_CUSTOMER off; {shape}",
        ),
    ]


# --- 5. operate with a million rows -------------------------------------------------
def fill(total: int) -> None:
    """Events up to ``total``: 90% delivered, 10% failed (with an attempt each), by SQL.
    Rows already there (from a smaller size) are kept, and the table grows to ``total``."""
    start = Event.objects.count() + 1
    if start == 1:
        reset_events()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO integrations_event (message_id, source, call_type, name, user_id, anonymous_id, email,
              order_id, action, seg_event, status, ingest_status, status_reason, message, payload,
              warnings, attempts, tries, next_attempt_at, enqueued_at, first_attempt_at, last_error,
              timestamp, received_at, delivered_at, updated_at)
            SELECT 'bench-' || g, 'server', 'track', 'Order Completed', 'user-' || mod(g, 50000), '',
              'customer' || mod(g, 50000) || '@example.com', 'order-' || g, 'order-placed', 'OrderPlaced',
              CASE WHEN mod(g, 10) = 0 THEN 'failed' ELSE 'delivered' END,
              'pending', CASE WHEN mod(g, 10) = 0 THEN 'Seg refused it.' ELSE '' END,
              jsonb_build_object('type', 'track', 'event', 'Order Completed', 'userId', 'user-' || mod(g, 50000),
                                 'properties', jsonb_build_object('orderId', 'order-' || g, 'total', 30)),
              jsonb_build_object('MessageId', 'bench-' || g, 'Email', 'customer' || mod(g, 50000) || '@example.com',
                                 'Id', 'order-' || g, 'Total', 30),
              '[]'::jsonb, 1, 1, NULL, NULL, now() - (g || ' seconds')::interval,
              CASE WHEN mod(g, 10) = 0 THEN 'HTTP 422: {"error": "bad"}' ELSE '' END,
              now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval,
              CASE WHEN mod(g, 10) = 0 THEN NULL ELSE now() - (g || ' seconds')::interval END,
              now() - (g || ' seconds')::interval
            FROM generate_series(%s, %s) AS g
            """,
            [start, total],
        )
        cursor.execute(
            """
            INSERT INTO integrations_attempt (event_id, number, started_at, duration_ms, url, status_code,
              response_excerpt, error_class, error, verdict, retry_at)
            SELECT id, 1, received_at, 12.5, 'https://tracker.segapp.com/django/x/order-placed',
              CASE WHEN status = 'failed' THEN 422 ELSE 200 END, '{}',
              CASE WHEN status = 'failed' THEN 'HTTP 422' ELSE '' END, '',
              CASE WHEN status = 'failed' THEN 'failed' ELSE 'delivered' END, NULL
            FROM integrations_event WHERE id >= %s
            """,
            [start],
        )
        cursor.execute("ANALYZE integrations_event; ANALYZE integrations_attempt;")


def timed(fn: Any, repeat: int = 5) -> tuple[float, int]:
    """Median milliseconds and the query count of fn()."""
    fn()
    runs = [once(fn) for _ in range(repeat)]
    return median([ms for _, ms, _ in runs]), runs[-1][2]


def once(fn: Any) -> tuple[Any, float, int]:
    """fn()'s result, its milliseconds and its query count, for work that runs once."""
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        result = fn()
        ms = (time.perf_counter() - start) * 1000
    return result, ms, len(queries)


# The sizes the operator's pages are timed at, side by side: BENCH_OPERATE_SIZES (rows,
# comma-separated, each times BENCH_SCALE), 1M and 10M unless told.
SIZES = os.environ.get("BENCH_OPERATE_SIZES", "1000000,10000000")


def bench_operate() -> list[Row]:
    sizes = sorted({n(int(size)) for size in SIZES.split(",")})
    rows: list[Row] = []
    for size in sizes:
        started = time.perf_counter()
        before = Event.objects.count() if size != sizes[0] else 0
        fill(size)
        fill_s = time.perf_counter() - started
        got = operator_pages(size)
        for row in got:
            row.extra["fill_seconds"] = round(fill_s, 1)
            row.extra["fill_rows_per_second"] = round((size - before) / max(fill_s, 1e-9))
        rows += got
    return rows + operator_actions(sizes[-1])


def operator_pages(total: int) -> list[Row]:
    """The events list, filtered and searched, one event's page, a customer's and the
    dashboard, at ``total`` rows."""
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", "", "x"
    )
    client = Client()
    client.force_login(user)
    event_id = Event.objects.filter(status=Status.FAILED).values_list("pk", flat=True).first()
    pages = {
        "events list": "/admin/integrations/event/",
        "events list, filtered (failed, has error, last 7 days)": "/admin/integrations/event/?status__exact=failed&has_error=yes&received=7d",
        "events list, search by email": "/admin/integrations/event/?q=customer123%40example.com",
        "one event's page": f"/admin/integrations/event/{event_id}/change/",
        "customer page": "/admin/integrations/event/customer/customer123@example.com/",
    }
    rows = []
    for label, url in pages.items():
        ms, queries = timed(lambda url=url: client.get(url))
        assert client.get(url).status_code == 200
        rows.append(
            Row(
                f"{label} ({total:,} rows)",
                ms,
                "ms",
                target="< 300 ms",
                met=ms < 300,
                note=f"{queries} queries",
            )
        )
    ms, queries = timed(lambda: client.get("/admin/integrations/event/dashboard/"), repeat=3)
    rows.append(
        Row(
            f"dashboard ({total:,} rows)",
            ms,
            "ms",
            target="< 150 ms",
            met=ms < 150,
            note=f"{queries} queries",
        )
    )
    return rows


def operator_actions(total: int) -> list[Row]:
    """Retry of every failed event and of a tenth, and the sweeper idle and busy, at
    ``total`` rows (they change the rows: run after the pages)."""
    rows: list[Row] = []
    failed = Event.objects.filter(status=Status.FAILED)
    count = failed.count()
    changed, retry_ms, queries = once(lambda: operations.retry(failed, "bench"))
    rows.append(
        Row(
            f"retry {changed:,} failed events in one action",
            retry_ms,
            "ms",
            note=f"{queries} queries; {retry_ms / max(changed, 1) * 1000:.1f} us a row",
        )
    )
    assert changed == count
    # The same action on a tenth of the rows: time should fall about tenfold.
    Event.objects.filter(status=Status.PENDING).update(status=Status.FAILED)
    tenth = Event.objects.filter(status=Status.FAILED, pk__lte=total // 10)
    small, small_ms, _ = once(lambda: operations.retry(tenth, "bench"))
    rows.append(
        Row(
            f"retry {small:,} failed events",
            small_ms,
            "ms",
            target="scales with rows touched",
            met=small_ms < retry_ms / 3,
            note=f"{small_ms / max(small, 1) * 1000:.1f} us a row",
        )
    )

    # Sweeper: with nothing due, then with 1,000 due; it must not read the table.
    Event.objects.exclude(status=Status.DELIVERED).update(
        status=Status.FAILED, next_attempt_at=None
    )
    idle_ms, idle_q = timed(outbox.sweep)
    due = list(Event.objects.filter(status=Status.FAILED).values_list("pk", flat=True)[:1000])
    Event.objects.filter(pk__in=due).update(
        status=Status.PENDING, next_attempt_at=timezone.now(), enqueued_at=None
    )
    result, busy_ms, _ = once(outbox.sweep)
    with transaction.atomic():  # the sweep's own query, FOR UPDATE and all
        plan = outbox.orphans(timezone.now(), timezone.now(), 5000).explain()
    uses_index = "seg_event_due" in plan
    rows.append(
        Row(
            f"sweeper pass, nothing due ({total:,} rows)",
            idle_ms,
            "ms",
            target="O(due rows)",
            met=uses_index and idle_ms < 50,
            note=f"{idle_q} queries; plan uses seg_event_due: {uses_index}",
        )
    )
    rows.append(
        Row(
            f"sweeper pass, {result.queued} due",
            busy_ms,
            "ms",
            note="one SELECT … FOR UPDATE, one UPDATE, one fan-out publish",
        )
    )
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    return rows


# --- 6. memory ---------------------------------------------------------------------
def bench_memory(tracker: str) -> Row:
    """Worker RSS after BENCH_MEMORY_DELIVERIES (default 101,000) against after 1,000."""
    reset_events()
    total = int(os.environ.get("BENCH_MEMORY_DELIVERIES", "101000"))
    proc = harness.worker(4, tracker, name="memory")
    settings.SEG_SWEEP_BATCH = 10_000_000
    try:

        def deliver(count: int) -> None:
            before = Event.objects.filter(status=Status.DELIVERED).count()
            Event.objects.bulk_create(pending_rows(count), batch_size=2000)
            outbox.sweep()
            harness.wait_for(
                lambda: Event.objects.filter(status=Status.DELIVERED).count() == before + count,
                timeout=3600,
                every=0.5,
            )

        deliver(1000)
        after_1k = harness.rss_kb(proc.children())
        done = 1000
        while done < total:
            chunk = min(10_000, total - done)
            deliver(chunk)
            done += chunk
        after_all = harness.rss_kb(proc.children())
    finally:
        proc.stop()
    return Row(
        f"worker RSS after {done:,} deliveries",
        after_all / 1024,
        "MiB",
        after_1k / 1024,
        "flat (within 10%)",
        after_all / after_1k < 1.10,
        "baseline: RSS after 1,000 deliveries; 4 pool processes",
    )


# --- 7. the broker down -----------------------------------------------------------
def bench_broker_down(tracker: str, clients: int = 2) -> list[Row]:
    """p99 of single track POSTs and of api.track commits with Redis stopped, against up.

    One private Redis, one gunicorn and this process's Celery app on it; each
    phase the same load, first with Redis up, then with it stopped. As many
    clients as gunicorn workers, so a request's time is its own, not a queue's.
    """
    reset_events()
    server, broker_url = harness.redis_server()
    web, base_url = harness.gunicorn(clients, tracker, name="web-outage", REDIS_URL=broker_url)
    harness.point_broker(broker_url)
    count = n(2000)

    def ingest_ms(tag: str) -> list[float]:
        tag += uuid.uuid4().hex[:6]
        # Track calls only: message() makes every fourth a page call, which /track refuses.
        tracks = [m for i in range(count * 2) if (m := message(i, tag))["type"] == "track"]
        bodies = [json.dumps(m).encode() for m in tracks[:count]]
        latencies: list[float] = []
        statuses: list[int] = []

        def post(index: int) -> None:
            with requests.Session() as session:
                for body in bodies[index::clients]:
                    start = time.perf_counter()
                    r = session.post(f"{base_url}/seg/v1/track", data=body, auth=AUTH, timeout=60)
                    latencies.append((time.perf_counter() - start) * 1000)
                    statuses.append(r.status_code)

        parallel(clients, post)
        assert set(statuses) == {200} and len(statuses) == count, set(statuses)
        return latencies

    def commit_ms() -> list[float]:
        latencies = []
        for _ in range(count // 2):
            start = time.perf_counter()
            with transaction.atomic():
                api.track(
                    "u1",
                    "Order Completed",
                    {"orderId": uuid.uuid4().hex, "total": 30},
                    context={"traits": {"email": "ann@example.com"}},
                )
            latencies.append((time.perf_counter() - start) * 1000)
        return latencies

    try:
        ingest_ms("warm"), commit_ms()  # every gunicorn worker and this process connected
        up = ingest_ms("up"), commit_ms()
        server.stop()
        down = ingest_ms("down"), commit_ms()
        # Every call made while Redis was down is stored and left for the sweeper.
        unqueued = Event.objects.filter(enqueued_at__isnull=True).count()
        assert unqueued == count + count // 2, unqueued
    finally:
        web.stop()
        server.stop()
        harness.point_broker(settings.CELERY_BROKER_URL)
        dispatch.resume()
    rows = []
    for name, shape, measured_down, measured_up in (
        (
            "ingest, single track with the broker down: p99",
            f"{count} requests each, {clients} clients closed loop, {clients} gunicorn workers",
            down[0],
            up[0],
        ),
        (
            "Python API with the broker down: p99 of a commit",
            f"{count // 2} api.track commits each, one thread",
            down[1],
            up[1],
        ),
    ):
        p99, base = percentile(measured_down, 0.99), percentile(measured_up, 0.99)
        medians = f"p50 {median(measured_down):.1f} ms against {median(measured_up):.1f} ms"
        rows.append(
            Row(
                name,
                p99,
                "ms",
                base,
                "< 50 ms over broker up",
                p99 - base < 50,
                f"baseline: the same with Redis up, then stopped; {shape}; {medians}",
            )
        )
    return rows


# --- 8. against what a shop would build instead ------------------------------------------------
def bench_peers(tracker: str) -> list[Row]:
    """benchmarks/peers/: in a process of its own, on its own settings and a private Redis."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.peers", tracker],
        cwd=harness.ROOT,
        env=harness.env(),
        stdout=subprocess.PIPE,
        check=True,
    )
    return [Row(**row) for row in json.loads(out.stdout)]


def main() -> int:
    # A terminated run still stops the processes it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    (harness.ROOT / ".run").mkdir(exist_ok=True)
    only = set(sys.argv[1:])
    rows: list[Row] = []
    box, tracker = harness.sandbox()
    web, base_url = harness.gunicorn(4, tracker)

    def part(name: str, *benches: Any) -> None:
        if only and name not in only:
            return
        for bench in benches:
            got = bench()
            for row in got if isinstance(got, list) else [got]:
                rows.append(row)
                print(f"{row.name}: {row.value:,.1f} {row.unit}", flush=True)

    try:
        part("ingest", lambda: bench_ingest_batch(base_url), lambda: bench_ingest_single(base_url))
        part("api", bench_python_api)
        part(
            "deliver",
            lambda: bench_deliver(tracker, 4),
            lambda: bench_deliver(tracker, 8),
            lambda: bench_deliver_in_order(tracker, 4),
            lambda: bench_pg_work(tracker),
        )
        if "pgwork" in only:  # the last of deliver's, on its own
            part("pgwork", lambda: bench_pg_work(tracker))
        part("operate", bench_operate)
        part("memory", lambda: bench_memory(tracker))
        part("outage", lambda: bench_broker_down(tracker))
        part("peers", lambda: bench_peers(tracker))
        part(
            "browser",
            lambda: browser.bench(tracker, reset_events, n(4000)),
            lambda: browser.bench_charge(n(20000)),
        )
        part("flood", lambda: flood.bench(tracker, reset_events, SCALE))
        part("erase", lambda: erase.bench(reset_events, SCALE))
        part("scrape", lambda: scrape.bench(n(1_000_000)))
        part("backfill", lambda: backfill.bench(SCALE))
    finally:
        web.stop()
        box.stop()
        reset_events()
        report(rows, merge=bool(only))
    return 0


def report(rows: list[Row], merge: bool = False) -> None:
    print(f"\n{'benchmark':<62} {'result':>16} {'baseline':>16} {'ratio':>7}  target")
    for r in rows:
        base = f"{r.baseline:,.1f}" if r.baseline is not None else ""
        ratio = f"{r.ratio:.0%}" if r.ratio is not None else ""
        verdict = "" if r.met is None else (" met" if r.met else " MISSED")
        print(
            f"{r.name:<62} {r.value:>10,.1f} {r.unit[:5]:<5} {base:>16} {ratio:>7}  {r.target}{verdict}"
        )
        if r.note:
            print(f"{'':<4}{r.note}")
    machine = {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "database": connection.vendor,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": SCALE,
    }
    results = [
        {
            "name": r.name,
            "value": round(r.value, 3),
            "unit": r.unit,
            "baseline": None if r.baseline is None else round(r.baseline, 3),
            "ratio": None if r.ratio is None else round(r.ratio, 3),
            "target": r.target,
            "met": r.met,
            "note": r.note,
            **r.extra,
            "machine": machine,
        }
        for r in rows
    ]
    if merge and RESULTS.exists():
        # A partial run replaces its own rows and keeps the others.
        fresh = {r["name"] for r in results}
        kept = [r for r in json.loads(RESULTS.read_text())["results"] if r["name"] not in fresh]
        results = kept + results
    RESULTS.write_text(json.dumps({"results": results}, indent=2) + "\n")
    print(f"\nWrote {RESULTS}")


if __name__ == "__main__":
    raise SystemExit(main())
