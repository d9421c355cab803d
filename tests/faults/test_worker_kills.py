"""A whole worker group SIGKILLed in the middle of its batches: what Seg gets twice."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.dev.sandbox import Answer, Sandbox
from integrations.models import Attempt, Event, Status

from ..conftest import wait_until
from .helpers import duplicates, store_orders, wait_delivered

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_worker_group_killed_mid_batch_sends_again_only_what_was_in_flight(
    sandbox: Sandbox, start_worker: Any
) -> None:
    # Seg takes 0.4 s a request, so each process is deep in a batch of 50
    # when the group dies. What Seg answered before the kill is on the rows;
    # only the request each process had on the wire can be sent again.
    processes = 4
    sandbox.script(default=Answer(delay=0.4))
    env = {
        "SEG_LEASE": "20",
        "SEG_CONNECT_TIMEOUT": "0.5",
        "SEG_READ_TIMEOUT": "10",  # never a timeout, even on a busy machine
        "SEG_REQUEUE_AFTER": "3",
        "SEG_DELIVERY_BATCH": "50",
    }
    worker = start_worker(concurrency=processes, name="doomed", beat=True, **env)
    ids = store_orders(400, "kill")
    # Several answered requests a process: every batch is well under way.
    wait_until(lambda: len(sandbox.delivered()) >= 5 * processes, timeout=120, every=0.05)
    worker.kill()
    answered_before_kill = len(sandbox.delivered())
    sandbox.script(default=Answer())
    start_worker(concurrency=processes, name="survivor", beat=True, **env)
    keys = wait_delivered(sandbox, ids, timeout=240)
    dups = duplicates(keys)
    print(
        f"\nFAULT worker-group-sigkill-mid-batch: sent={len(ids)} received={len(keys)} "
        f"answered before the kill={answered_before_kill} duplicates={dups}"
    )
    assert set(keys) == set(ids)
    assert Event.objects.filter(message_id__in=ids, status=Status.DELIVERED).count() == len(ids)
    # At most the one request on the wire in each killed process.
    assert dups <= processes
    # An event Seg answered twice has one 2xx on record: the first was cut off unread.
    twice = [key for key, count in keys.items() if count > 1]
    assert Attempt.objects.filter(event__message_id__in=twice, status_code=200).count() == len(
        twice
    )
