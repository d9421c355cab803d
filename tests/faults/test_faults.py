"""Faults inflicted for real: every accepted event still reaches Seg, and at most once
unless a fault cut a delivery off after Seg had it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
import requests
from django.db import transaction

from integrations import api
from integrations.dev.sandbox import Answer, Sandbox
from integrations.models import Attempt, Event

from ..conftest import WRITE_KEY, wait_until
from .helpers import duplicates, messages, post_batches, store, wait_delivered

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def report(name: str, sent: int, keys: Any, dups: int) -> None:
    print(f"\nFAULT {name}: sent={sent} received={len(keys)} duplicates={dups}")


def test_seg_answers_500_for_a_while_then_recovers(sandbox: Sandbox, start_worker: Any) -> None:
    sandbox.script(*[Answer(status=500)] * 40, default=Answer())
    # This test is about retries; the breaker has its own test below.
    start_worker(concurrency=4, beat=True, SEG_BREAKER_THRESHOLD="1000")
    ids = store(60, "s500")
    keys = wait_delivered(sandbox, ids)
    report("seg-500", len(ids), keys, duplicates(keys))
    assert duplicates(keys) == 0
    assert Attempt.objects.filter(status_code=500).count() == 40


def test_seg_answers_429_with_retry_after(sandbox: Sandbox, start_worker: Any) -> None:
    sandbox.script(*[Answer(status=429, headers={"Retry-After": "2"})] * 10, default=Answer())
    start_worker(concurrency=4, beat=True)
    ids = store(20, "s429")
    keys = wait_delivered(sandbox, ids)
    report("seg-429", len(ids), keys, duplicates(keys))
    assert duplicates(keys) == 0
    for limited in Attempt.objects.filter(status_code=429):
        following = Attempt.objects.get(event=limited.event, number=limited.number + 1)
        assert (following.started_at - limited.started_at).total_seconds() >= 2


def test_seg_hangs_past_the_read_timeout(sandbox: Sandbox, start_worker: Any) -> None:
    hung = 4
    sandbox.script(*[Answer(delay=1.5)] * hung, default=Answer())
    start_worker(
        concurrency=4, beat=True, SEG_READ_TIMEOUT="0.5", SEG_CONNECT_TIMEOUT="0.5", SEG_LEASE="2"
    )
    ids = store(20, "hang")
    wait_delivered(sandbox, ids)
    time.sleep(2)  # let Seg finish the requests the worker gave up on
    keys = sandbox.delivered_keys()
    dups = duplicates(keys)
    report("seg-hangs", len(ids), keys, dups)
    # Seg got each hung request after the worker gave up on it: those, and only
    # those, may arrive twice.
    assert dups <= hung
    assert Attempt.objects.filter(error_class="ReadTimeout").count() == hung


def test_worker_killed_mid_request(sandbox: Sandbox, start_worker: Any) -> None:
    sandbox.script(default=Answer(delay=3))
    env = {
        "SEG_READ_TIMEOUT": "4",
        "SEG_CONNECT_TIMEOUT": "0.5",
        "SEG_LEASE": "5",
        "SEG_REQUEUE_AFTER": "3",
    }
    worker = start_worker(concurrency=2, name="doomed", beat=True, **env)
    ids = store(10, "kill")
    wait_until(lambda: sandbox.arrived >= 2, timeout=30)
    in_flight = sandbox.arrived - len(sandbox.snapshot())
    worker.kill()
    sandbox.script(default=Answer())
    start_worker(concurrency=2, name="survivor", beat=True, **env)
    keys = wait_delivered(sandbox, ids, timeout=90)
    dups = duplicates(keys)
    report("worker-sigkill", len(ids), keys, dups)
    assert in_flight >= 1
    assert dups <= in_flight


def test_redis_stopped_while_events_come_in(
    sandbox: Sandbox, start_worker: Any, start_web: Any, private_redis: Any
) -> None:
    env = {"REDIS_URL": private_redis.url}
    web = start_web(**env)
    start_worker(concurrency=4, beat=True, SEG_REQUEUE_AFTER="5", **env)
    before = post_batches(web.url, messages(100, "up"))
    wait_delivered(sandbox, before)
    private_redis.stop()
    during = post_batches(web.url, messages(200, "down"))
    assert len(during) == 200  # stored and acknowledged with Redis down
    unqueued = Event.objects.filter(message_id__in=during, enqueued_at__isnull=True).count()
    assert unqueued == 200  # the publish really failed
    time.sleep(1)
    private_redis.start()
    keys = wait_delivered(sandbox, before + during, timeout=120)
    report("redis-down", len(before) + len(during), keys, duplicates(keys))
    assert duplicates(keys) == 0


def test_redis_stopped_while_deliveries_are_in_flight(
    sandbox: Sandbox, start_worker: Any, private_redis: Any
) -> None:
    # The worker holds unacknowledged messages when its broker goes away: it
    # must ride out the outage, not exit, and go on working once Redis is back.
    sandbox.script(default=Answer(delay=2))
    env = {"REDIS_URL": private_redis.url, "SEG_LEASE": "4", "SEG_REQUEUE_AFTER": "2"}
    # Free slots left, so the consumer is also waiting on the queue (BRPOP).
    worker = start_worker(concurrency=4, beat=True, **env)
    first = store(2, "inflight")
    wait_until(lambda: sandbox.arrived >= 2, timeout=30)
    in_flight = sandbox.arrived - len(sandbox.snapshot())
    private_redis.stop()
    time.sleep(3)
    sandbox.script(default=Answer())
    private_redis.start()
    # Work that only this worker can do, after the outage.
    after = store(10, "after")
    keys = wait_delivered(sandbox, first + after, timeout=90)
    dups = duplicates(keys)
    report("redis-down-in-flight", len(first) + len(after), keys, dups)
    assert worker.proc.poll() is None, "the worker exited when Redis went away"
    assert in_flight >= 1
    # Celery cancels the running tasks (SIGTERM to their processes): each still ends
    # the post it has on the wire and stores Seg's answer, so nothing is sent twice.
    assert dups == 0


def shop_order(index: int, tag: str) -> str:
    """An order's event from the shop's own code, in a transaction that commits."""
    with transaction.atomic():
        return api.track(
            f"shop-user-{index}",
            "Order Completed",
            {"orderId": f"{tag}-{index}", "total": 30},
            context={"traits": {"email": f"shopper{index}@example.com"}},
        )


def test_redis_down_never_holds_up_the_shop(
    sandbox: Sandbox, start_worker: Any, start_web: Any, private_redis: Any, broker_at: Any
) -> None:
    # Each call is timed on its own: a shop's checkout must not wait on our broker. Not a
    # speed target: kombu's retries would wait 2 s and then 4 s, a connect timeout 2 s.
    bound = 1.5
    env = {"REDIS_URL": private_redis.url}
    web = start_web(**env)
    broker_at(private_redis.url)  # this process's api.track publishes there too
    worker = start_worker(concurrency=4, beat=True, SEG_REQUEUE_AFTER="5", **env)
    track_url = f"{web.url}/seg/v1/track"
    # A process's first call loads code and connects; make those with Redis up,
    # on every web worker (separate connections, at once), so only the outage is timed.
    warm = messages(16, "warm")
    with ThreadPoolExecutor(8) as pool:
        answers = pool.map(
            lambda m: requests.post(track_url, json=m, auth=(WRITE_KEY, ""), timeout=30), warm
        )
        assert {answer.status_code for answer in answers} == {200}
    warmed = [str(m["messageId"]) for m in warm] + [shop_order(0, "warm")]
    wait_delivered(sandbox, warmed)  # none in flight when Redis stops
    private_redis.stop()
    posted = messages(100, "down-http")
    waits: dict[str, float] = {"POST": 0.0, "api.track commit": 0.0}
    with requests.Session() as session:
        for index, message in enumerate(posted):
            started = time.perf_counter()
            response = session.post(track_url, json=message, auth=(WRITE_KEY, ""), timeout=30)
            took = time.perf_counter() - started
            assert response.status_code == 200
            assert took < bound, f"POST {index} waited {took:.2f}s with Redis down"
            waits["POST"] = max(waits["POST"], took)
    tracked: list[str] = []
    for index in range(100):
        started = time.perf_counter()
        tracked.append(shop_order(index, "down-api"))
        took = time.perf_counter() - started
        assert took < bound, f"api.track commit {index} waited {took:.2f}s with Redis down"
        waits["api.track commit"] = max(waits["api.track commit"], took)
    print(
        "\nFAULT redis-down-shop-waits: slowest",
        *(f"{k} {v * 1000:.1f} ms" for k, v in waits.items()),
    )
    during = [str(m["messageId"]) for m in posted] + tracked
    stored = Event.objects.filter(message_id__in=during)
    assert stored.count() == 200
    assert stored.filter(enqueued_at__isnull=True).count() == 200  # left for the sweeper
    private_redis.start()
    keys = wait_delivered(sandbox, warmed + during, timeout=120)
    report("redis-down-shop-waits", len(warmed + during), keys, duplicates(keys))
    assert duplicates(keys) == 0
    assert worker.proc.poll() is None, "the worker exited when Redis went away"


def test_two_workers_race_for_the_same_events(sandbox: Sandbox, start_worker: Any) -> None:
    # Both run the sweeper, and wake-ups are requeued after a second, so most
    # events get several wake-ups, served by either worker.
    env = {"SEG_REQUEUE_AFTER": "1"}
    sandbox.script(default=Answer(delay=0.01))
    start_worker(concurrency=4, name="left", beat=True, **env)
    start_worker(concurrency=4, name="right", beat=True, **env)
    ids = store(300, "race")
    keys = wait_delivered(sandbox, ids)
    report("two-workers", len(ids), keys, duplicates(keys))
    assert duplicates(keys) == 0


def test_ten_thousand_events_in_bursts_while_seg_is_slow(
    sandbox: Sandbox, start_worker: Any, start_web: Any
) -> None:
    sandbox.script(default=Answer(delay=0.02))
    web = start_web()
    start_worker(concurrency=8, beat=True)
    accepted: list[str] = []
    for burst in range(10):
        accepted += post_batches(web.url, messages(1000, f"burst{burst}"))
        time.sleep(0.5)
    assert len(accepted) == 10_000
    keys = wait_delivered(sandbox, accepted, timeout=600)
    report("burst-10k-slow-seg", len(accepted), keys, duplicates(keys))
    assert duplicates(keys) == 0


def test_long_outage_opens_the_circuit_instead_of_hammering_seg(
    sandbox: Sandbox, start_worker: Any
) -> None:
    sandbox.script(default=Answer(status=500))
    env = {"SEG_BREAKER_THRESHOLD": "5", "SEG_BREAKER_COOLDOWN": "2", "SEG_MAX_ATTEMPTS": "1000"}
    start_worker(concurrency=4, beat=True, **env)
    ids = store(200, "outage")
    time.sleep(10)
    during_outage = sandbox.arrived
    print(f"\nFAULT long-outage: requests to Seg in 10 s of outage: {during_outage}")
    # Without the breaker, 4 workers retrying 200 events with sub-second
    # backoff would send thousands of requests in 10 s; with it, a handful
    # before it opens and about one probe per cooldown after.
    assert during_outage <= 5 + 4 + 10 / 2 + 4
    # Nothing given up on: every event waits for Seg (one may be mid-probe).
    statuses = set(Event.objects.filter(message_id__in=ids).values_list("status", flat=True))
    assert statuses <= {"pending", "sending"}
    sandbox.script(default=Answer())
    keys = wait_delivered(sandbox, ids, timeout=120)
    report("long-outage", len(ids), keys, duplicates(keys))
    assert duplicates(keys) == 0


def test_429_slows_every_worker_not_just_the_one_that_saw_it(
    sandbox: Sandbox, start_worker: Any
) -> None:
    sandbox.script(Answer(status=429, headers={"Retry-After": "3"}), default=Answer())
    start_worker(concurrency=2, name="one", beat=True)
    start_worker(concurrency=2, name="two", beat=True)
    ids = store(40, "slow")
    keys = wait_delivered(sandbox, ids)
    report("429-all-workers", len(ids), keys, duplicates(keys))
    received = sandbox.snapshot()
    limited = next(r for r in received if r.status == 429)
    paused_from = datetime.fromisoformat(limited.at)
    after = [datetime.fromisoformat(r.at) for r in received if r is not limited]
    gaps = [(t - paused_from).total_seconds() for t in after if t > paused_from]
    # Requests already in flight may land just after the 429; nothing new
    # goes out from either worker until Retry-After has passed.
    assert all(gap < 0.5 or gap >= 2.9 for gap in gaps)
    assert duplicates(keys) == 0
