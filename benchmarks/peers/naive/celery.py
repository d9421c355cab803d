"""The shop's Celery app as the tutorials configure it: a broker URL and the defaults."""

from __future__ import annotations

import os

from celery import Celery

from benchmarks.peers.broker import recovery_options

# Not the current app: the product's own tasks in the same process keep theirs.
app = Celery("naive", include=["benchmarks.peers.naive.tasks"], set_as_current=False)
app.conf.update(
    broker_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    task_default_queue="naive",
    task_ignore_result=True,
    # kombu's defaults, but for the recovery timers every peer shares in a run (scenarios.py).
    broker_transport_options=recovery_options(),
)
