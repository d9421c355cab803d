"""The task: read the row, post it, mark it sent; Celery retries network errors and 5xx."""

from __future__ import annotations

import requests
from django.db import transaction
from django.utils import timezone

from benchmarks.peers import seg

from .celery import app
from .models import SegEvent


@app.task(
    autoretry_for=(requests.RequestException,),
    retry_backoff=True,
    retry_kwargs={"max_retries": 5},
)
def send_to_seg(event_id: int) -> None:
    event = SegEvent.objects.get(pk=event_id)
    seg.post(event.message)
    SegEvent.objects.filter(pk=event_id).update(sent_at=timezone.now())


def record(message: dict[str, object]) -> None:
    """What the shop's view does inside its transaction: a row, and the task once it commits."""
    event = SegEvent.objects.create(message=message)
    transaction.on_commit(lambda: send_to_seg.delay(event.pk))
