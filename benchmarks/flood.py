"""The server's orders during a flood from pages, in one run: their delay to Seg with
no page traffic, then while pages send all their addresses are allowed, and what the
pages themselves get through, with the orders and alone.

Real processes: gunicorn, one Celery worker on ``-Q seg,seg_browser`` (the
production setup: ``seg`` polled first, pages' tasks giving their process back
after SEG_BROWSER_SLICE) with a finite SEG_RATE_LIMIT so the pages' share of it
(SEG_BROWSER_RATE_SHARE) counts, and the sandbox. An order's delay runs from the
shop's 200 for it to the sandbox's receipt of it (both clocks this machine's).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from benchmarks import browser, harness
from benchmarks.harness import Row, median
from integrations import conf  # imported by benchmarks.run once Django is set up
from integrations.models import Attempt, Event, Status

RATE_LIMIT = 100  # SEG_RATE_LIMIT of the worker: requests a second to Seg
CONCURRENCY = 4  # worker processes, as the deliver benchmark runs them
ADDRESSES = 10  # client addresses flooding at once
BATCH = 10  # messages in one analytics.js batch
PER_ADDRESS = 20.0  # messages a second an address may send (SEG_BROWSER_RATE_LIMIT's default)
ORDER_EVERY = 0.1  # seconds between two orders
LEAD = 2.0  # the flood runs alone this long first, so pages' wake-ups are queued ahead


@dataclass
class Orders:
    """Orders sent: when each was acknowledged (time.time()), and each request's time."""

    acked: dict[str, float] = field(default_factory=dict)
    request_ms: list[float] = field(default_factory=list)


@dataclass
class Flood:
    """What the pages sent: answers by status, the window it ran in (time.time())."""

    statuses: Counter[int] = field(default_factory=Counter)
    started: float = 0.0
    ended: float = 0.0

    @property
    def accepted(self) -> int:
        return self.statuses[200] * BATCH


def order_body(i: int, tag: str) -> bytes:
    """An Order Completed from the shop's server, for a customer of its own."""
    return json.dumps(
        {
            "type": "track",
            "event": "Order Completed",
            "messageId": f"order-{tag}-{i}",
            "userId": f"buyer-{tag}-{i}",
            "properties": {"orderId": f"o-{tag}-{i}", "total": 30, "currency": "USD"},
            "context": {"traits": {"email": f"buyer-{tag}-{i}@example.com"}},
            "timestamp": "2026-11-28T10:00:00.000Z",
        }
    ).encode()


def page_batch(address: int, k: int, tag: str) -> bytes:
    """An analytics.js batch of BATCH page events, each of its own visitor with an email."""
    events = []
    for j in range(BATCH):
        i = (address * 1_000_000) + k * BATCH + j
        event: dict[str, Any] = browser.analytics_js_event(i, tag)
        del event["userId"]  # a page's unvouched userId would only be dropped
        event["anonymousId"] = f"visitor-{tag}-{i}"
        event["context"]["traits"] = {"email": f"visitor-{tag}-{i}@example.com"}
        events.append(event)
    return json.dumps(
        {"batch": events, "sentAt": "2026-11-28T10:00:00.010Z", "writeKey": ""}
    ).encode()


def send_orders(base_url: str, tag: str, duration: float) -> Orders:
    """One order every ORDER_EVERY seconds for ``duration``, open loop, server key."""
    sent = Orders()
    start = time.perf_counter()
    with requests.Session() as session:
        for i in range(int(duration / ORDER_EVERY)):
            delay = start + i * ORDER_EVERY - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            began = time.perf_counter()
            r = session.post(
                f"{base_url}/seg/v1/track",
                data=order_body(i, tag),
                auth=(harness.WRITE_KEY, ""),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            sent.acked[f"order-{tag}-{i}"] = time.time()
            sent.request_ms.append((time.perf_counter() - began) * 1000)
            assert r.status_code == 200, (r.status_code, r.text)
    return sent


def flood(base_url: str, tag: str, duration: float) -> Callable[[], Flood]:
    """Start ADDRESSES threads, each sending batches at PER_ADDRESS messages a second
    for ``duration``; a call that waits for their end and returns what they sent."""
    out, lock = Flood(started=time.time()), threading.Lock()
    every = BATCH / PER_ADDRESS
    start = time.perf_counter()

    def address(index: int) -> None:
        forwarded = f"10.77.0.{index + 1}"
        with requests.Session() as session:
            k = 0
            # Spread over the interval, so the addresses do not post in step.
            while (due := start + (k + index / ADDRESSES) * every) < start + duration:
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                r = session.post(
                    f"{base_url}/seg/v1/b",
                    data=page_batch(index, k, tag),
                    auth=(browser.BROWSER_KEY, ""),
                    headers={"Content-Type": "text/plain", "X-Forwarded-For": forwarded},
                    timeout=30,
                )
                with lock:
                    out.statuses[r.status_code] += 1
                k += 1

    threads = [threading.Thread(target=address, args=(i,)) for i in range(ADDRESSES)]
    for t in threads:
        t.start()

    def join() -> Flood:
        for t in threads:
            t.join()
        out.ended = time.time()
        return out

    return join


def arrivals(tracker: str) -> dict[str, float]:
    """Idempotency-Key to the time (time.time()) the sandbox first answered it 2xx."""
    got: dict[str, float] = {}
    for r in requests.get(f"{tracker}/_sandbox/received", timeout=120).json():
        key = r["headers"].get("Idempotency-Key", "")
        if 200 <= r["status"] < 300 and key not in got:
            got[key] = datetime.fromisoformat(r["at"]).timestamp()
    return got


def delivered_all(orders: Orders, timeout: float = 120) -> None:
    keys = list(orders.acked)
    done = Event.objects.filter(message_id__in=keys, status=Status.DELIVERED)
    harness.wait_for(lambda: done.count() == len(keys), timeout=timeout, every=0.2)


def post_started(orders: Orders) -> dict[str, float]:
    """messageId to when (time.time()) the worker began its first POST (its Attempt row)."""
    first = Attempt.objects.filter(event__message_id__in=list(orders.acked), number=1)
    return {key: at.timestamp() for key, at in first.values_list("event__message_id", "started_at")}


def delays_ms(orders: Orders, seen: dict[str, float]) -> list[float]:
    return [(seen[key] - acked) * 1000 for key, acked in orders.acked.items()]


def pages_in(seen: dict[str, float], window: Flood) -> int:
    """Pages' events (``browser:`` keys) the sandbox received while ``window`` ran."""
    return sum(
        key.startswith("browser:") and window.started <= at <= window.ended
        for key, at in seen.items()
    )


def bench(tracker: str, reset: Callable[[], None], scale: float) -> list[Row]:
    """Orders alone, then orders in a flood, on one worker; then the flood alone on a fresh one."""
    duration = max(30 * scale, 5.0)
    web, base_url = harness.gunicorn(
        CONCURRENCY,
        tracker,
        name="web-flood",
        SEG_BROWSER_WRITE_KEYS=browser.BROWSER_KEY,
        SEG_CLIENT_IP_HEADER="X-Forwarded-For",
    )
    limit = {"SEG_RATE_LIMIT": str(RATE_LIMIT)}
    try:
        reset()
        requests.delete(f"{tracker}/_sandbox/received", timeout=10)
        worker = harness.worker(CONCURRENCY, tracker, name="worker-flood", **limit)
        try:
            send_orders(base_url, "warm", 1.0)  # every process connected
            quiet = send_orders(base_url, "quiet-" + uuid.uuid4().hex[:6], duration)
            delivered_all(quiet)
            tag = uuid.uuid4().hex[:6]
            join = flood(base_url, "with-" + tag, duration + LEAD)
            time.sleep(LEAD)
            busy = send_orders(base_url, "busy-" + tag, duration)
            with_orders = join()
            delivered_all(busy)
            seen = arrivals(tracker)
            began = post_started(quiet) | post_started(busy)
            retried = Event.objects.filter(message_id__in=list(busy.acked), attempts__gt=1).count()
        finally:
            worker.stop()
        reset()
        worker = harness.worker(CONCURRENCY, tracker, name="worker-flood-alone", **limit)
        try:
            join = flood(base_url, "alone-" + uuid.uuid4().hex[:6], duration + LEAD)
            alone = join()
            time.sleep(1.0)  # what was on the wire as the flood ended
            seen_alone = arrivals(tracker)
        finally:
            worker.stop()
    finally:
        web.stop()
        reset()
    waits = {
        name: median([(began[key] - acked) * 1000 for key, acked in orders.acked.items()])
        for name, orders in (("quiet", quiet), ("busy", busy))
    }
    extra = (
        f"of it, before the worker began the POST: p50 {waits['busy']:.1f} ms against "
        f"{waits['quiet']:.1f}; orders posted more than once: {retried}"
    )
    return rows(quiet, busy, seen, with_orders, alone, seen_alone, duration, extra)


def rows(
    quiet: Orders,
    busy: Orders,
    seen: dict[str, float],
    with_orders: Flood,
    alone: Flood,
    seen_alone: dict[str, float],
    duration: float,
    extra: str,
) -> list[Row]:
    before, during = delays_ms(quiet, seen), delays_ms(busy, seen)
    p50, base = median(during), median(before)
    window = with_orders.ended - with_orders.started
    pages = pages_in(seen, with_orders)
    pages_alone = pages_in(seen_alone, alone)
    rate, rate_alone = pages / window, pages_alone / (alone.ended - alone.started)
    shape = (
        f"{ADDRESSES} addresses x {PER_ADDRESS:.0f} messages/s in /v1/b batches of {BATCH} "
        f"for {duration + LEAD:.0f} s, the orders from {LEAD:.0f} s in"
    )
    share = RATE_LIMIT * float(conf.get_setting("SEG_BROWSER_RATE_SHARE"))
    setup = (
        f"SEG_RATE_LIMIT {RATE_LIMIT}, pages' share {share:.0f}/s; "
        f"{CONCURRENCY} worker processes on -Q seg,seg_browser"
    )

    def refused(f: Flood) -> str:
        return ", ".join(f"{n} x {s}" for s, n in sorted(f.statuses.items()) if s != 200) or "none"

    return [
        Row(
            "server orders' delay, no page traffic: p50",
            base,
            "ms",
            note=f"{len(before)} Order Completed, 1 every {ORDER_EVERY * 1000:.0f} ms, server key "
            f"over HTTP; from the shop's 200 to the sandbox's receipt; max {max(before):.1f} ms; "
            f"request p50 {median(quiet.request_ms):.1f} ms; {setup}",
        ),
        Row(
            "server orders' delay during a page flood, p50",
            p50,
            "ms",
            base,
            "<= 2x the same without the flood",
            p50 <= 2 * base,
            f"baseline: the same without the flood; max {max(during):.1f} ms against "
            f"{max(before):.1f}; {len(during)} orders; {shape}; {pages} page events delivered "
            f"meanwhile ({rate:.1f}/s); {extra}; order request p50 "
            f"{median(busy.request_ms):.1f} ms",
        ),
        Row(
            "server orders' delay during a page flood, max",
            max(during),
            "ms",
            max(before),
            note="baseline: the same without the flood",
        ),
        Row(
            "pages' events delivered during the flood, with the orders",
            rate,
            "events/s",
            rate_alone,
            note=f"baseline: the same flood alone, on a fresh worker; {with_orders.accepted:,} "
            f"page events accepted (against {alone.accepted:,} alone), refused batches: "
            f"{refused(with_orders)} (alone: {refused(alone)}); {setup}",
        ),
        Row(
            "pages' events delivered during the flood, alone",
            rate_alone,
            "events/s",
            note=f"{pages_alone:,} in {alone.ended - alone.started:.1f} s; the same flood, no orders",
        ),
    ]
