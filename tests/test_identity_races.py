"""Identity decisions under concurrency: calls racing for one visitor leave nothing held.

The first page after a login sends identify, page and track at the same moment.
Each visitor's three calls go out together from a barrier, through real servers
(gunicorn, several workers and threads), the Python API from several threads,
and batches; afterwards no event of a visitor whose email was given is held.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any

import pytest
import requests
from django.db import close_old_connections, connection, transaction

from integrations import api
from integrations.ingest import user_hash
from integrations.models import Event, Status

from .conftest import BROWSER_KEY, WRITE_KEY, WebServer

VISITORS = 150


def _visitor_calls(n: int, key: str) -> list[tuple[str, dict[str, Any]]]:
    """The three calls of the first page after visitor ``n`` logs in."""
    anonymous_id, user_id = f"anon-{uuid.uuid4()}", f"user-{n}-{uuid.uuid4().hex[:6]}"
    base = {"anonymousId": anonymous_id, "userId": user_id, "writeKey": key}
    return [
        ("identify", base | {"traits": {"email": f"visitor{n}@example.com"}}),
        ("page", base | {"name": "Thanks", "properties": {"url": "https://shop.example/t"}}),
        ("track", base | {"event": "Order Completed", "properties": {"order_id": f"R{n}"}}),
    ]


def _race(calls: list[list[Callable[[], Any]]]) -> None:
    """Run each visitor's calls at the same moment (one barrier per visitor), visitors
    spread over a pool of threads."""

    def visitor(own: list[Callable[[], Any]]) -> None:
        barrier = threading.Barrier(len(own))
        errors: list[BaseException] = []

        def run(call: Callable[[], Any]) -> None:
            try:
                barrier.wait(10)
                call()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=run, args=(call,)) for call in own]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors

    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(visitor, own) for own in calls]:
            future.result()


def _left_held() -> list[tuple[str, str, str]]:
    return list(
        Event.objects.filter(status=Status.HELD).values_list("call_type", "name", "anonymous_id")
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("key", [WRITE_KEY, BROWSER_KEY], ids=["server key", "tag-signed page"])
def test_a_login_page_racing_over_http_leaves_nothing_held(
    start_web: Callable[..., WebServer], key: str
) -> None:
    web = start_web(SEG_BROWSER_RATE_LIMIT="0")
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))
    visitors = [_visitor_calls(n, key) for n in range(VISITORS)]
    if key == BROWSER_KEY:
        _sign(visitors)

    def post(call: str, body: dict[str, Any]) -> Callable[[], None]:
        def send() -> None:
            answer = session.post(f"{web.url}/seg/v1/{call}", data=json.dumps(body), timeout=60)
            assert answer.status_code == 200, answer.text

        return send

    _race([[post(call, body) for call, body in visitor] for visitor in visitors])
    assert Event.objects.count() == 3 * VISITORS
    assert _left_held() == []


@pytest.mark.django_db(transaction=True)
def test_batches_racing_over_http_leave_nothing_held(start_web: Callable[..., WebServer]) -> None:
    """analytics-python and analytics-node batch: the identify in one batch, the
    track in another, both in flight at once."""
    web = start_web()
    visitors = [_visitor_calls(n, WRITE_KEY) for n in range(VISITORS)]

    def batch(calls: list[tuple[str, dict[str, Any]]]) -> Callable[[], None]:
        body = {"batch": [m | {"type": c} for c, m in calls], "writeKey": WRITE_KEY}

        def send() -> None:
            answer = requests.post(f"{web.url}/seg/v1/batch", data=json.dumps(body), timeout=60)
            assert answer.status_code == 200, answer.text

        return send

    _race([[batch(v[:1]), batch(v[1:])] for v in visitors])
    assert _left_held() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "in_a_transaction", [False, True], ids=["autocommit", "shop's transaction"]
)
def test_the_python_api_racing_from_threads_leaves_nothing_held(in_a_transaction: bool) -> None:
    """Each call in its own thread, so its own database connection and transaction; in
    the shop's own transaction (ATOMIC_REQUESTS, an order's), which holds it a while."""

    def call(kind: str, body: dict[str, Any]) -> Callable[[], None]:
        def send() -> None:
            try:
                with transaction.atomic() if in_a_transaction else nullcontext():
                    send_in_transaction()
            finally:
                connection.close()

        def send_in_transaction() -> None:
            options = {
                "anonymous_id": body["anonymousId"],
                "context": {"page": {"url": "https://shop.example/t"}},
            }
            if kind == "identify":
                api.identify(body["userId"], body["traits"], **options)
            elif kind == "page":
                api.page(body["userId"], name=body["name"], **options)
            else:
                api.track(body["userId"], body["event"], body["properties"], **options)
            if in_a_transaction:
                time.sleep(0.01)  # the shop's own work before its commit

        return send

    visitors = [_visitor_calls(n, WRITE_KEY) for n in range(VISITORS // 3)]
    _race([[call(kind, body) for kind, body in visitor] for visitor in visitors])
    close_old_connections()
    assert _left_held() == []


def _sign(visitors: list[list[tuple[str, dict[str, Any]]]]) -> None:
    """What the tag does for a logged-in user: the identify carries the server's
    signature of the userId."""
    for visitor in visitors:
        _, identify = visitor[0]
        signature = user_hash(identify["userId"], identify["traits"]["email"])
        for _, call in visitor:  # the tag stamps it on every call of the page
            call["integrations"] = {"Seg": {"userHash": signature}}
