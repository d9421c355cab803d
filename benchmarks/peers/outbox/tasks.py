"""The task carries the message (the outbox row keeps it until the relay publishes it).

No model of its own: the library's ``celery_outbox`` table is the row in the
shop's transaction, deleted once the relay has handed the task to the broker.
"""

from __future__ import annotations

from typing import Any

import requests

from benchmarks.peers import seg

from .celery import app


@app.task(
    autoretry_for=(requests.RequestException,),
    retry_backoff=True,
    retry_kwargs={"max_retries": 5},
)
def send_to_seg(message: dict[str, Any]) -> None:
    seg.post(message)


def record(message: dict[str, Any]) -> None:
    """What the shop's view does inside its transaction: .delay() writes an outbox row."""
    send_to_seg.delay(message)
