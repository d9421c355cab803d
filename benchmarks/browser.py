"""The cost of the browser keys' rate limit: the same requests with a browser key
(one Redis round trip for the limit) and with a server key (none), in one run.

Each request comes from its own client address (``X-Forwarded-For``, trusted
through SEG_CLIENT_IP_HEADER), as visitors would, so the limit never refuses
and every request pays for a bucket of its own.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests
from django.test import override_settings

from benchmarks import harness
from benchmarks.harness import Row, median, percentile
from integrations.web import limiter  # imported by benchmarks.run once Django is set up

BROWSER_KEY = "bench-browser-key"
SERVER_KEY = harness.WRITE_KEY


def analytics_js_event(i: int, tag: str) -> dict[str, Any]:
    """A track call as analytics.js sends it (context.page, library, anonymousId)."""
    return {
        "type": "track",
        "event": "Product Viewed",
        "messageId": f"ajs-next-{tag}-{i}",
        "anonymousId": f"anon-{i % 500}",
        "userId": f"user-{i % 500}",
        "properties": {"id": f"p{i}", "name": "Monopoly", "price": 18.99},
        "context": {
            "page": {
                "path": f"/p/{i}",
                "referrer": "",
                "search": "",
                "title": "Monopoly | Shop",
                "url": f"https://shop.example/p/{i}",
            },
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0",
            "locale": "en-US",
            "library": {"name": "analytics.js", "version": "next-1.84.3"},
            "traits": {"email": f"customer{i % 500}@example.com"},
        },
        "timestamp": "2026-11-28T10:00:00.000Z",
        "integrations": {},
        "sentAt": "2026-11-28T10:00:00.010Z",
    }


def bench_charge(count: int) -> Row:
    """limiter.charge in this process, against a bare PING to the same Redis."""
    with override_settings(SEG_BROWSER_RATE_LIMIT=20, SEG_BROWSER_BURST=200):
        limiter.charge("192.0.2.1", 1)
        r = limiter._redis()[0]
        start = time.perf_counter()
        for _ in range(count):
            r.ping()
        ping = (time.perf_counter() - start) / count * 1e6
        start = time.perf_counter()
        for i in range(count):
            limiter.charge(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", 1)
        charge = (time.perf_counter() - start) / count * 1e6
        limiter.reset()
    return Row(
        "browser key, limiter.charge in process",
        charge,
        "us a call",
        ping,
        note=f"baseline: a bare Redis PING on the same connection; {count} calls each, "
        "every call a new address",
    )


def bench(tracker: str, reset: Callable[[], None], count: int, clients: int = 2) -> list[Row]:
    """Single track POSTs (browser against server key, interleaved) and /v1/b batches of 10."""
    web, base_url = harness.gunicorn(
        clients,
        tracker,
        name="web-browser",
        SEG_BROWSER_WRITE_KEYS=BROWSER_KEY,
        SEG_CLIENT_IP_HEADER="X-Forwarded-For",
    )
    addresses = (f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in itertools.count())
    lock = threading.Lock()

    def address() -> str:
        with lock:
            return next(addresses)

    def post(session: requests.Session, path: str, key: str, body: bytes) -> float:
        start = time.perf_counter()
        r = session.post(
            f"{base_url}/seg/v1/{path}",
            data=body,
            auth=(key, ""),
            headers={"Content-Type": "text/plain", "X-Forwarded-For": address()},
            timeout=30,
        )
        elapsed = (time.perf_counter() - start) * 1000
        assert r.status_code == 200, (r.status_code, r.text)
        return elapsed

    def run(path: str, bodies: list[bytes]) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {"browser": [], "server": []}

        def work(index: int) -> None:
            with requests.Session() as session:
                for j, body in enumerate(bodies[index::clients]):
                    kind = "browser" if j % 2 == 0 else "server"
                    key = BROWSER_KEY if kind == "browser" else SERVER_KEY
                    ms = post(session, path, key, body)
                    with lock:
                        times[kind].append(ms)

        pool = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return times

    try:
        reset()
        tag = uuid.uuid4().hex[:6]
        singles = [json.dumps(analytics_js_event(i, tag)).encode() for i in range(count)]
        run("t", singles[:50])  # warm up: every worker connected to the database and Redis
        single = run("t", singles[50:])
        reset()
        batches = [
            json.dumps(
                {
                    "batch": [analytics_js_event(b * 10 + i, tag + "b") for i in range(10)],
                    "sentAt": "2026-11-28T10:00:00.010Z",
                    "writeKey": "",
                }
            ).encode()
            for b in range(count // 2)
        ]
        start = time.perf_counter()
        batched = run("b", batches)
        elapsed = time.perf_counter() - start
    finally:
        web.stop()
        reset()
    shape = f"{clients} clients closed loop, {clients} gunicorn workers, alternating keys"
    browser, server = single["browser"], single["server"]
    b_ms, s_ms = median(batched["browser"]), median(batched["server"])
    return [
        Row(
            "browser key, single track: p50",
            median(browser),
            "ms",
            median(server),
            note=f"baseline: the same with a server key (not limited); {len(browser)} each; "
            f"{shape}; p99 {percentile(browser, 0.99):.1f} ms against "
            f"{percentile(server, 0.99):.1f} ms",
        ),
        Row(
            "browser key, the limit's cost per request (p50 difference)",
            median(browser) - median(server),
            "ms",
            note="one EVALSHA on Redis a request",
        ),
        Row(
            "browser key, analytics.js batches of 10 (/v1/b): p50 a batch",
            b_ms,
            "ms",
            s_ms,
            note=f"baseline: server key; {len(batched['browser'])} batches each; "
            f"{len(batches) * 10 / elapsed:,.0f} events/s over both",
        ),
    ]
