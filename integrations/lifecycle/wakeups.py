"""Queue delivery wake-ups in Celery. Redis only says "look at this row now".

Wake-ups go to a queue by their events' source: the shop's server's to
``seg``, pages' to ``seg_browser``, a backfill's to ``seg_backfill``. A worker
started with ``-Q seg,seg_browser,seg_backfill`` takes from ``seg`` first
(``queue_order_strategy`` "priority" in ``celery_settings``), so a flood from
pages never queues ahead of an order, and the shop's history goes last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from time import monotonic

import redis
from celery import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from .. import conf
from ..core import BACKFILL_QUEUE, BROWSER_QUEUE, QUEUE, RELEASE, per_process
from ..core import DELIVER_EVENT as DELIVER_EVENT  # the names it publishes, re-exported
from ..core import DELIVER_EVENTS as DELIVER_EVENTS
from ..core import FAN_OUT as FAN_OUT
from ..models import Event, Source
from . import moves

logger = logging.getLogger(__name__)

# Publishing goes by the tasks' names (``core.names``), so this module needs no
# import of the tasks (which call back into it).

# No publish waits on a broker that is down: the row is already stored, and
# the sweeper queues what was not published. retry=False turns off Celery's
# publish retries, the transport's max_retries=0 a connect's own retries (see
# segproject/settings.py), and after a failure this process publishes nothing
# until this monotonic time, so one failed connect is paid once a
# SEG_PUBLISH_PAUSE, not once a request.
_paused_until = float("-inf")

QUEUES = {Source.SERVER: QUEUE, Source.BROWSER: BROWSER_QUEUE, Source.BACKFILL: BACKFILL_QUEUE}
# Ids one look-up of sources names at most: well under SQLite's bound parameters.
_CHUNK = 500

# A wake-up of a source that no worker has started yet: while it is there, the
# shop's commits queue none (``wake``), as the task drains what is due of its
# source. It is kept in the broker's own Redis, beside the message it stands for,
# so that a broker that is down or lost its messages has no mark either. A worker
# deletes it as a task starts, before it claims; it lapses on its own after
# _WAITING_MS, so a wake-up lost with its message costs at most that.
_WAITING = "seg:wake-up:{}"
_WAITING_MS = 2000
_clients: Callable[[], dict[str, redis.Redis]] = per_process(dict)


def _broker_redis() -> redis.Redis | None:
    """A client of the broker's Redis (one a process and URL), or None for another broker."""
    url = str(current_app.conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://")):
        return None
    clients = _clients()
    if url not in clients:
        # A SET on a healthy Redis takes well under a millisecond: a shop's commit never
        # waits on one that is away for more than a refused or timed-out try, never retried.
        clients[url] = redis.Redis.from_url(
            url, socket_connect_timeout=0.25, socket_timeout=0.25, retry=Retry(NoBackoff(), 0)
        )
    return clients[url]


def queue(
    ids: Sequence[int],
    countdown: timedelta | None = None,
    fan_out: bool = True,
    source: str | None = None,
) -> bool:
    """Queue delivery tasks for these events; False when they were not all queued.

    ``source``: the source of every one of ``ids``, when the caller knows it;
    else it is read from the rows (one query per 500 ids). The server's
    events are published first, to ``seg``, then the pages', to
    ``seg_browser``, then a backfill's, to ``seg_backfill``; a task never mixes
    them. A task takes up to SEG_DELIVERY_BATCH events (a backfill's,
    SEG_BACKFILL_BATCH). More than one task's worth goes out as one
    fan-out message, which a worker turns into the tasks: a publish costs
    about a millisecond, and the shop's request should not pay it many
    times. Events not queued (the broker refused, or this process is pausing
    after a refusal) are marked as having no live wake-up, so the next
    sweeper pass queues them; nothing is lost either way.
    """
    groups = {Source(source): list(ids)} if source else by_source(ids)
    queued = True
    for each in QUEUES:
        if groups.get(each):
            queued = _queue_one(groups[each], countdown, fan_out, each) and queued
    return queued


def wake(source: str, ids: Callable[[], Sequence[int]]) -> bool:
    """Queue a delivery task for events of ``source`` just committed, unless one of that
    source is queued and not started yet: it drains them (``delivery.deliver_many``), so
    a hundred single-event commits cost a few tasks, not a hundred. False when not queued
    and none waits (the rows are then left to the sweeper, as ``queue``'s).

    ``ids``: the events' ids, read before the mark is looked at. The check is one SET NX
    on the broker's Redis; while this process pauses after a refused publish it is not
    made at all, and with another broker every call queues its task.
    """
    global _paused_until
    store = _broker_redis()
    if store is None or monotonic() < _paused_until:
        # Another broker: a task for these. Pausing: marks them for the sweeper.
        return queue(ids(), source=source)
    # Read first: with nothing to wake (a running drain took the rows), the mark is left
    # alone, for the commits that found it set rely on the task it stands for.
    if not (found := ids()):
        return True
    key = _WAITING.format(source)
    try:
        if not store.set(key, "1", nx=True, px=_WAITING_MS):
            return True
    except Exception:
        pause: timedelta = conf.get_setting("SEG_PUBLISH_PAUSE")
        _paused_until = monotonic() + pause.total_seconds()
        logger.warning("Could not queue a wake-up; the sweeper will queue it.", exc_info=True)
        _forget_wake_ups(found)
        return False
    if queue(found, source=source):
        return True
    started(source)  # none is waiting after all: the sweeper queues these
    return False


def started(*sources: str) -> None:
    """Note that a task of these sources (all, by default) has started: commits from now
    on queue wake-ups again. Call it before the task claims. Never raises: a note not
    made lapses on its own."""
    try:
        if store := _broker_redis():
            store.delete(*(_WAITING.format(s) for s in sources or [str(s) for s in Source]))
    except Exception:
        logger.debug("Could not clear the waiting wake-ups.", exc_info=True)


def by_source(ids: Sequence[int]) -> dict[Source, list[int]]:
    """``ids`` split by their events' source, each in the order given.

    An id whose row cannot be read (gone, or the database refused) counts as
    the server's: its wake-up is then served first, never lost.
    """
    sources: dict[int, str] = {}
    try:
        for start in range(0, len(ids), _CHUNK):
            rows = Event.objects.filter(pk__in=list(ids[start : start + _CHUNK]))
            sources.update(rows.exclude(source=Source.SERVER).values_list("pk", "source"))
    except Exception:
        logger.warning("Could not read the sources of %d event(s).", len(ids), exc_info=True)
    return {each: [pk for pk in ids if sources.get(pk, Source.SERVER) == each] for each in QUEUES}


def batch_size(source: str) -> int:
    """How many events one delivery task of ``source`` takes at most: SEG_BACKFILL_BATCH
    for the backfill's (a worker is soon free for a live event), else SEG_DELIVERY_BATCH."""
    name = "SEG_BACKFILL_BATCH" if source == Source.BACKFILL else "SEG_DELIVERY_BATCH"
    return max(int(conf.get_setting(name)), 1)


def _queue_one(ids: list[int], countdown: timedelta | None, fan_out: bool, source: Source) -> bool:
    """``queue`` for events of one source, to that source's queue."""
    size = batch_size(source)
    send_task = partial(current_app.send_task, queue=QUEUES[source], retry=False)
    if fan_out and len(ids) > size and countdown is None:
        return _publish(ids, partial(send_task, FAN_OUT, (ids, source.value)))
    seconds = countdown.total_seconds() if countdown else 0.0
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        name, args = (DELIVER_EVENT, (chunk[0],)) if len(chunk) == 1 else (DELIVER_EVENTS, (chunk,))
        if not _publish(ids[start:], partial(send_task, name, args, countdown=seconds)):
            return False
    return True


def release(user_id: str | None, anonymous_id: str | None, scope: str) -> bool:
    """Queue the release of what an identify left held past SEG_RELEASE_BATCH
    (``ingest.release_rest``); False when the broker could not take it (the
    visitor's next identify releases them then)."""
    send = partial(current_app.send_task, RELEASE, (user_id, anonymous_id, scope), retry=False)
    return _publish([], send)


def resume() -> None:
    """Publish again from the next call, even within a pause after a failure or while a
    wake-up waits (``wake``)."""
    global _paused_until
    _paused_until = float("-inf")
    started()


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
        moves.forget_wake_ups(ids)
    except Exception:
        # The rows keep their old enqueued_at; the sweeper still requeues them
        # once SEG_REQUEUE_AFTER has passed.
        logger.warning("Could not mark %d event(s) as unqueued.", len(ids), exc_info=True)
