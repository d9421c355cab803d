"""End to end: Segment's own Python client, the live app, Redis, a real worker, the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from segment.analytics import Client

from integrations.dev import Sandbox
from integrations.ingest import ingest
from integrations.models import Event, Status

from .conftest import WEBSITE_ID, WRITE_KEY, wait_until
from .faults.helpers import messages, wait_delivered

SAMPLES = Path(__file__).parent / "samples"
# Values the client or the resolution supplies, compared separately.
VARIABLE = {"MessageId", "Date", "UserId", "AnonymousId", "Email"}


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def send(client: Client, case: dict[str, Any], user_id: str) -> None:
    message = case["message"]
    kind = message["type"]
    if kind == "track":
        client.track(
            user_id=user_id,
            event=message["event"],
            properties=message.get("properties"),
            context=message.get("context"),
        )
    elif kind == "identify":
        client.identify(user_id=user_id, traits=message["traits"])
    elif kind == "page":
        client.page(
            user_id=user_id,
            category=message.get("category"),
            name=message.get("name"),
            properties=message.get("properties"),
            context=message.get("context"),
        )
    elif kind == "alias":
        client.alias(previous_id=message["previousId"], user_id=message["userId"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("gzip", [False, True])
def test_segment_client_events_reach_seg_as_the_contract_says(
    live_server: Any, sandbox: Sandbox, start_worker: Any, gzip: bool
) -> None:
    start_worker(concurrency=2)
    errors: list[Any] = []
    client = Client(
        write_key=WRITE_KEY,
        host=f"{live_server.url}/seg",
        gzip=gzip,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
    )
    names = [
        "identify_with_traits",
        "seg_doc_viewed_product_category",
        "seg_doc_viewed_product",
        "seg_doc_added_product",
        "seg_doc_order_completed",
        "seg_doc_completed_order",
        "page",
        "alias_emails",
    ]
    cases = {name: sample(name) for name in names}
    for name in names:
        send(client, cases[name], user_id="u1")
    client.flush()
    client.join()
    assert errors == []

    wait_until(lambda: Event.objects.filter(status=Status.DELIVERED).count() == len(names), 60)
    received = {r.body["MessageId"]: r for r in sandbox.delivered()}
    assert len(received) == len(names)
    for event in Event.objects.all():
        got = received[event.message_id]
        assert got.website_id == WEBSITE_ID
        assert got.body == event.payload
        assert got.headers["Idempotency-Key"] == event.message_id
    by_action = {r.action: r for r in received.values()}
    assert set(by_action) == {"update-customer", "events", "order-placed", "alias"}
    # Each e-commerce sample reached Seg with the contract's payload, and the
    # customer's email from the identify.
    for name in names:
        message = cases[name]["message"]
        if message["type"] != "track":
            continue
        got = received[Event.objects.get(name=message["event"]).message_id].body
        expected = cases[name]["payload"]
        assert {k: v for k, v in got.items() if k not in VARIABLE} == {
            k: v for k, v in expected.items() if k not in VARIABLE
        }, name
        assert got["Email"] == "ann@example.com"
    assert sandbox.delivered_keys().most_common(1)[0][1] == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_from_task_to_task(
    sandbox: Sandbox, start_worker: Any
) -> None:
    # Celery's Django fixup closes the connection around every task unless
    # CELERY_DB_REUSE_MAX is set: a one-event task then pays a new PostgreSQL
    # session, more than its delivery. Sessions that ended are counted by the
    # server as they end, so 20 one-event tasks without reuse add 20 or more.
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL's sessions")
    start_worker(concurrency=1)

    def sessions() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            )
            return int(cursor.fetchone()[0])

    before = sessions()
    keys = []
    for message in messages(20, "reuse"):
        assert ingest([message]).stored == 1  # one task each, queued as it commits
        keys.append(str(message["messageId"]))
    wait_delivered(sandbox, keys)
    assert sessions() - before < 5
