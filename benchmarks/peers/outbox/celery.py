"""The shop's Celery app as django-celery-outbox's README sets it up: an OutboxCelery.

``CELERY_OUTBOX_APP`` (benchmarks/peers/settings.py) points the relay at it.
"""

from __future__ import annotations

import os

from django_celery_outbox import OutboxCelery

from benchmarks.peers.broker import recovery_options

app = OutboxCelery("outbox", include=["benchmarks.peers.outbox.tasks"], set_as_current=False)
app.conf.update(
    broker_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    task_default_queue="outbox",
    task_ignore_result=True,
    # kombu's defaults, but for the recovery timers every peer shares in a run (scenarios.py).
    broker_transport_options=recovery_options(),
)
