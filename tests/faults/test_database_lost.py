"""The database lost under a worker mid-batch: its sessions terminated, or PostgreSQL away
for a while as in a restart or a failover. Nothing more is posted until what Seg answered
is recorded, and every answer Seg gave ends up on its event."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection

from integrations.dev.sandbox import Answer, Sandbox
from integrations.models import Attempt, Event, Status

from ..conftest import wait_until
from .helpers import duplicates, store_orders, wait_delivered

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's sessions, terminated from another")


def terminate_other_sessions() -> int:
    """End every session on the test database but this test's own: the workers'."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def database_away(seconds: float) -> None:
    """As a restart looks to the workers: for ``seconds``, every session they open is ended."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        terminate_other_sessions()
        time.sleep(0.02)


def every_answer_is_on_record(sandbox: Sandbox, ids: list[str]) -> None:
    """Each 2xx Seg gave is an attempt with its status on the event it was for."""
    answered = len([r for r in sandbox.delivered() if r.headers["Idempotency-Key"] in ids])
    recorded = Attempt.objects.filter(event__message_id__in=ids, status_code=200).count()
    assert recorded == answered


def env(**extra: str) -> dict[str, str]:
    return {
        "SEG_LEASE": "20",
        "SEG_CONNECT_TIMEOUT": "0.5",
        "SEG_READ_TIMEOUT": "5",
        "SEG_REQUEUE_AFTER": "3",
        "SEG_DELIVERY_BATCH": "50",
        **extra,
    }


def test_sessions_terminated_mid_batch_post_nothing_unrecorded(
    sandbox: Sandbox, start_worker: Any
) -> None:
    # One process takes the 14 orders in one claim; Seg takes 0.3 s each. Its
    # sessions end while it waits on Seg: the outcome of that post is stored on
    # a fresh session before the next post leaves, and the batch goes on.
    sandbox.script(default=Answer(delay=0.3))
    ids = store_orders(14, "lost")
    start_worker(concurrency=1, beat=True, **env())
    wait_until(lambda: len(sandbox.delivered()) >= 2, timeout=60, every=0.02)
    time.sleep(0.1)  # the third post is on the wire
    assert terminate_other_sessions() >= 1
    ended = time.monotonic()
    keys = wait_delivered(sandbox, ids, timeout=90)
    took = time.monotonic() - ended
    time.sleep(1)
    keys = sandbox.delivered_keys()
    dups = duplicates(keys)
    print(f"\nFAULT sessions-terminated: sent={len(ids)} duplicates={dups} rest took {took:.1f}s")
    assert dups == 0
    every_answer_is_on_record(sandbox, ids)
    assert took < 15  # well inside the lease: the rest of the claim did not wait for it


def test_postgresql_away_for_seconds_under_four_processes(
    sandbox: Sandbox, start_worker: Any
) -> None:
    # A backlog delivered by 4 processes while PostgreSQL goes away for 3 s, as
    # in a restart: every session ends, and so does every new one meanwhile.
    # Each process keeps what Seg answered and stores it first once it is back.
    processes = 4
    sandbox.script(default=Answer(delay=0.02))
    ids = store_orders(800, "lost")
    start_worker(concurrency=processes, beat=True, **env())
    wait_until(lambda: len(sandbox.delivered()) >= 100, timeout=120, every=0.02)
    database_away(3)
    keys = wait_delivered(sandbox, ids, timeout=180)
    time.sleep(1)
    keys = sandbox.delivered_keys()
    dups = duplicates(keys)
    print(f"\nFAULT postgresql-away: sent={len(ids)} duplicates={dups}")
    assert set(keys) == set(ids)
    assert Event.objects.filter(message_id__in=ids, status=Status.DELIVERED).count() == len(ids)
    assert dups <= processes  # at most the post each process had on the wire
    every_answer_is_on_record(sandbox, ids)
