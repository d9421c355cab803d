"""Queue delivery wake-ups in Celery. Redis only says "look at this row now"."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.utils import timezone

from . import conf

logger = logging.getLogger(__name__)

# Publishing does not retry (retry=False): when the broker is down the row is
# already stored and the sweeper queues it later, so waiting here would only
# slow the shop's request.


def queue(ids: Sequence[int], countdown: timedelta | None = None, fan_out: bool = True) -> bool:
    """Queue delivery tasks for these events; False when the broker refused.

    A task takes up to SEG_DELIVERY_BATCH events. More than one task's worth
    goes out as one fan-out message, which a worker turns into the tasks: a
    publish costs about a millisecond, and the shop's request should not pay
    it many times. On failure the rows are marked as having no live wake-up,
    so the next sweeper pass queues them; nothing is lost either way.
    """
    from .tasks import deliver_event, deliver_events, fan_out_deliveries

    size = max(int(conf.get_setting("SEG_DELIVERY_BATCH")), 1)
    if fan_out and len(ids) > size and countdown is None:
        try:
            fan_out_deliveries.apply_async((list(ids),), retry=False)
        except Exception:
            return _gave_up(ids)
        return True
    seconds = countdown.total_seconds() if countdown else 0.0
    for start in range(0, len(ids), size):
        chunk = list(ids[start : start + size])
        try:
            if len(chunk) == 1:
                deliver_event.apply_async((chunk[0],), countdown=seconds, retry=False)
            else:
                deliver_events.apply_async((chunk,), countdown=seconds, retry=False)
        except Exception:
            return _gave_up(ids[start:])
    return True


def queue_in_order(ids: Sequence[int]) -> bool:
    """Queue deliveries that must go out in this order, one after the other."""
    if not ids:
        return True
    if len(ids) == 1:
        return queue(ids)
    from celery import chain

    from .tasks import deliver_event

    try:
        chain(*(deliver_event.si(event_id) for event_id in ids)).apply_async(retry=False)
    except Exception:
        return _gave_up(ids)
    return True


def _gave_up(ids: Sequence[int]) -> bool:
    """The broker refused: log it, and leave the rows for the sweeper. Always False."""
    logger.warning(
        "Could not queue %d event(s); the sweeper will queue them.", len(ids), exc_info=True
    )
    _forget_wake_ups(ids)
    return False


def _forget_wake_ups(ids: Sequence[int]) -> None:
    from .models import Event

    try:
        Event.objects.filter(pk__in=list(ids)).update(enqueued_at=None, updated_at=timezone.now())
    except Exception:
        # The rows keep their old enqueued_at; the sweeper still requeues them
        # once SEG_REQUEUE_AFTER has passed.
        logger.warning("Could not mark %d event(s) as unqueued.", len(ids), exc_info=True)
