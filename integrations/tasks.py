"""Celery tasks: each takes ids and calls into the delivery and outbox modules."""

from __future__ import annotations

from celery import shared_task

from . import delivery, dispatch, outbox


@shared_task(name=dispatch.DELIVER_EVENT, acks_late=True, reject_on_worker_lost=True)
def deliver_event(event_id: int) -> str | None:
    """Make one delivery attempt for the event; the row decides whether one is due."""
    verdict = delivery.deliver(event_id)
    return verdict.value if verdict else None


@shared_task(name=dispatch.DELIVER_EVENTS, acks_late=True, reject_on_worker_lost=True)
def deliver_events(event_ids: list[int]) -> list[str]:
    """Make one delivery attempt for each of the events that is due (SEG_DELIVERY_BATCH of them)."""
    return [verdict.value for verdict in delivery.deliver_many(event_ids)]


@shared_task(name=dispatch.FAN_OUT, acks_late=True, reject_on_worker_lost=True)
def fan_out_deliveries(event_ids: list[int]) -> int:
    """Queue the delivery tasks for many events; sent as one message from the shop."""
    dispatch.queue(event_ids, fan_out=False)
    return len(event_ids)


@shared_task(name="integrations.sweep")
def sweep() -> dict[str, int]:
    """Queue due events that have no live wake-up; expire stale holds."""
    return outbox.sweep().as_dict()


@shared_task(name="integrations.purge")
def purge() -> int:
    """Delete delivered and ignored events past SEG_RETENTION_DAYS."""
    return outbox.purge()
