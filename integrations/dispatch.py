"""Queue delivery wake-ups in Celery. Redis only says "look at this row now"."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from time import monotonic

from celery import current_app

from . import conf, lifecycle

logger = logging.getLogger(__name__)

# The delivery tasks' names. tasks.py registers the tasks under them, and
# publishing goes by name, so this module needs no import of the tasks (which
# call back into it).
DELIVER_EVENT = "integrations.deliver_event"
DELIVER_EVENTS = "integrations.deliver_events"
FAN_OUT = "integrations.fan_out"
RELEASE = "integrations.release_held"

# No publish waits on a broker that is down: the row is already stored, and
# the sweeper queues what was not published. retry=False turns off Celery's
# publish retries, the transport's max_retries=0 a connect's own retries (see
# segproject/settings.py), and after a failure this process publishes nothing
# until this monotonic time, so one failed connect is paid once a
# SEG_PUBLISH_PAUSE, not once a request.
_paused_until = float("-inf")


def queue(ids: Sequence[int], countdown: timedelta | None = None, fan_out: bool = True) -> bool:
    """Queue delivery tasks for these events; False when they were not all queued.

    A task takes up to SEG_DELIVERY_BATCH events. More than one task's worth
    goes out as one fan-out message, which a worker turns into the tasks: a
    publish costs about a millisecond, and the shop's request should not pay
    it many times. Events not queued (the broker refused, or this process is
    pausing after a refusal) are marked as having no live wake-up, so the next
    sweeper pass queues them; nothing is lost either way.
    """
    size = max(int(conf.get_setting("SEG_DELIVERY_BATCH")), 1)
    if fan_out and len(ids) > size and countdown is None:
        return _publish(ids, partial(current_app.send_task, FAN_OUT, (list(ids),), retry=False))
    seconds = countdown.total_seconds() if countdown else 0.0
    for start in range(0, len(ids), size):
        chunk = list(ids[start : start + size])
        name, args = (DELIVER_EVENT, (chunk[0],)) if len(chunk) == 1 else (DELIVER_EVENTS, (chunk,))
        send = partial(current_app.send_task, name, args, countdown=seconds, retry=False)
        if not _publish(ids[start:], send):
            return False
    return True


def release(user_id: str | None, anonymous_id: str | None, scope: str) -> bool:
    """Queue the release of what an identify left held past SEG_RELEASE_BATCH
    (``ingest.release_rest``); False when the broker could not take it (the
    visitor's next identify releases them then)."""
    send = partial(current_app.send_task, RELEASE, (user_id, anonymous_id, scope), retry=False)
    return _publish([], send)


def resume() -> None:
    """Publish again from the next call, even within a pause after a failure."""
    global _paused_until
    _paused_until = float("-inf")


def _publish(unsent: Sequence[int], send: Callable[[], object]) -> bool:
    """Call ``send`` to publish one message; False, leaving ``unsent`` to the sweeper, if not.

    While this process pauses after a failed publish, ``send`` is not called
    at all. A failed ``send`` starts a pause of SEG_PUBLISH_PAUSE.
    """
    global _paused_until
    if monotonic() < _paused_until:
        logger.debug("Publishing paused; the sweeper will queue %d event(s).", len(unsent))
        _forget_wake_ups(unsent)
        return False
    try:
        send()
    except Exception:
        pause: timedelta = conf.get_setting("SEG_PUBLISH_PAUSE")
        _paused_until = monotonic() + pause.total_seconds()
        logger.warning(
            "Could not queue %d event(s); the sweeper will queue them. "
            "This process publishes nothing for %gs.",
            len(unsent),
            pause.total_seconds(),
            exc_info=True,
        )
        _forget_wake_ups(unsent)
        return False
    return True


def _forget_wake_ups(ids: Sequence[int]) -> None:
    try:
        lifecycle.forget_wake_ups(ids)
    except Exception:
        # The rows keep their old enqueued_at; the sweeper still requeues them
        # once SEG_REQUEUE_AFTER has passed.
        logger.warning("Could not mark %d event(s) as unqueued.", len(ids), exc_info=True)
