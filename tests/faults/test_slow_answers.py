"""Seg answering at a trickle: a post ends by its deadline, well inside the lease."""

from __future__ import annotations

import time
from typing import Any

import pytest

from integrations.dev.sandbox import Answer, Sandbox
from integrations.models import Attempt

from .helpers import duplicates, store, wait_delivered

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_an_answer_trickling_past_the_lease_is_not_posted_again(
    sandbox: Sandbox, start_worker: Any
) -> None:
    # The first answer's status line arrives at once, then its body a byte every
    # 0.5 s (10 s in all): every read is well inside the read timeout, and the
    # whole answer far past the lease. Cut off at the deadline, the 2xx is a
    # delivery, stored before the lease lapses, so no other process posts it again.
    body = {"success": True, "padding": "z" * 20}
    sandbox.script(Answer(body=body, trickle=0.5), default=Answer())
    env = {
        "SEG_CONNECT_TIMEOUT": "0.5",
        "SEG_READ_TIMEOUT": "1",
        "SEG_POST_DEADLINE": "1.5",
        "SEG_LEASE": "4",
        "SEG_REQUEUE_AFTER": "2",
    }
    start_worker(concurrency=2, beat=True, **env)
    started = time.monotonic()
    ids = store(6, "trickle")
    keys = wait_delivered(sandbox, ids, timeout=60)
    took = time.monotonic() - started
    time.sleep(5)  # past the lease: a worker that had lost it would post again by now
    keys = sandbox.delivered_keys()
    dups = duplicates(keys)
    print(f"\nFAULT seg-trickles: sent={len(ids)} received={len(keys)} duplicates={dups}")
    assert dups == 0
    [cut] = Attempt.objects.filter(error__icontains="deadline")
    assert cut.status_code == 200 and cut.verdict == "delivered"
    assert cut.duration_ms < 4000 and took < 30
