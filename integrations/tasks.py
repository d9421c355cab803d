"""Celery tasks: each takes ids and calls into the delivery and outbox modules."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from celery import Task, shared_task
from celery.signals import task_postrun, task_prerun, worker_process_shutdown, worker_ready
from django.db import close_old_connections

from . import conf, delivery, ingest, instruments, lifecycle, operating
from .core import DELIVER_EVENT, DELIVER_EVENTS, FAN_OUT, PURGE, RELEASE, SWEEP, TASKS


@task_prerun.connect
@task_postrun.connect
def close_old_connections_around_a_task(sender: Task[Any, Any] | None = None, **_: Any) -> None:
    """Around each of the app's tasks (and no other), what Django does around each
    request: close the database connections past CONN_MAX_AGE or unusable after an
    error, and let CONN_HEALTH_CHECKS test a reused one before its first query. With
    CELERY_DB_REUSE_MAX set (integrations.celery_settings), Celery then keeps a
    connection from one task to the next instead of opening one for every task; the
    shop's own tasks keep whatever Celery does for them."""
    if sender is not None and sender.name in TASKS:
        close_old_connections()


@worker_process_shutdown.connect
def forget_a_pool_process(pid: int | None = None, **_: Any) -> None:
    """A pool process exits: its counters stay counted (``instruments.process_gone``)."""
    instruments.process_gone(pid or os.getpid())


@worker_ready.connect
def serve_the_workers_counters(**_: Any) -> None:
    """With SEG_WORKER_METRICS_BIND, the worker serves its host's counters for Prometheus."""
    if bind := conf.get_setting("SEG_WORKER_METRICS_BIND"):
        operating.serve_counters(bind)


@shared_task(name=DELIVER_EVENT, acks_late=True, reject_on_worker_lost=True)
def deliver_event(event_id: int) -> str | None:
    """Make one delivery attempt for the event, and for other due events of its source up to
    SEG_DELIVERY_BATCH (``delivery.deliver_many``); the rows decide what is due. The
    first attempt's verdict, or None if none was made (not due, claimed elsewhere)."""
    source = queued_source(deliver_event.request.delivery_info)
    with delivery.stop_deferred():  # a cancel waits for the post on the wire
        verdicts = delivery.deliver_many([event_id], True, source)
    return verdicts[0].value if verdicts else None


@shared_task(name=DELIVER_EVENTS, acks_late=True, reject_on_worker_lost=True)
def deliver_events(event_ids: list[int]) -> list[str]:
    """Make one delivery attempt for each of the events that is due (SEG_DELIVERY_BATCH of
    them), and for other due events of their source up to that many."""
    source = queued_source(deliver_events.request.delivery_info)
    with delivery.stop_deferred():  # a cancel waits for the post on the wire
        verdicts = delivery.deliver_many(event_ids, True, source)
    return [verdict.value for verdict in verdicts]


def queued_source(delivery_info: Mapping[str, object] | None) -> str | None:
    """The source whose queue (``lifecycle.QUEUES``) a task came from, by its request's
    ``delivery_info``; None when called directly, or routed to a queue of the shop's own."""
    queue = (delivery_info or {}).get("routing_key")
    return next((str(s) for s, name in lifecycle.QUEUES.items() if name == queue), None)


@shared_task(name=FAN_OUT, acks_late=True, reject_on_worker_lost=True)
def fan_out_deliveries(event_ids: list[int], source: str | None = None) -> int:
    """Queue the delivery tasks for many events (all of ``source``, when it is given; a
    message from before sources had queues has none); sent as one message from the shop."""
    lifecycle.queue(event_ids, fan_out=False, source=source)
    return len(event_ids)


@shared_task(name=RELEASE, acks_late=True, reject_on_worker_lost=True)
def release_held(user_id: str | None, anonymous_id: str | None, scope: str) -> int:
    """Release, in batches, the held events an identify left past SEG_RELEASE_BATCH."""
    return ingest.release_rest(user_id, anonymous_id, scope)


@shared_task(name=SWEEP)
def sweep() -> dict[str, int]:
    """Queue due events that have no live wake-up; expire stale holds."""
    return delivery.sweep().as_dict()


@shared_task(name=PURGE)
def purge() -> int:
    """Delete the events retention no longer keeps (``delivery.purge``)."""
    return delivery.purge()
