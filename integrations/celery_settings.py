"""The Celery settings Seg's delivery guarantees rest on, for a shop's Django settings.

A shop brings them in with one line in its ``settings.py`` and sets only its broker::

    from integrations.celery_settings import *  # noqa: F403

    CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"

The names are Celery's own settings in the ``CELERY_`` namespace, read by the
shop's Celery app with ``app.config_from_object("django.conf:settings",
namespace="CELERY")`` (Celery's documented setup for Django). A line after the
import overrides one; ``manage.py check`` warns where an override breaks a
guarantee (``integrations.W002`` to ``W004``). A shop with its own beat schedule or
routes merges them: ``CELERY_BEAT_SCHEDULE = {**CELERY_BEAT_SCHEDULE, ...}``.
"""

from __future__ import annotations

from typing import Any

from .core import PURGE, QUEUE, SWEEP

__all__ = [
    "CELERY_BEAT_SCHEDULE",
    "CELERY_BROKER_CONNECTION_MAX_RETRIES",
    "CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP",
    "CELERY_BROKER_TRANSPORT_OPTIONS",
    "CELERY_DB_REUSE_MAX",
    "CELERY_TASK_ACKS_LATE",
    "CELERY_TASK_IGNORE_RESULT",
    "CELERY_TASK_REJECT_ON_WORKER_LOST",
    "CELERY_TASK_ROUTES",
    "CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS",
    "CELERY_WORKER_CONSUMER",
    "CELERY_WORKER_PREFETCH_MULTIPLIER",
]

# The queues the app's tasks go to (``integrations.core.names``): a worker serves
# all three, the server's first and a backfill's last: ``-Q seg,seg_browser,seg_backfill``.
SWEEP_INTERVAL = 10.0
PURGE_INTERVAL = 3600.0


def beat_schedule(sweep_interval: float = SWEEP_INTERVAL) -> dict[str, dict[str, Any]]:
    """Beat entries for the sweeper (every ``sweep_interval`` seconds) and the purge (hourly).

    The sweeper queues due events that have no live wake-up and expires stale
    holds; without it an event whose publish failed waits for good.
    """
    return {
        "seg-sweep": {"task": SWEEP, "schedule": float(sweep_interval)},
        "seg-purge": {"task": PURGE, "schedule": PURGE_INTERVAL},
    }


# Nothing reads task results: the event row is the record.
CELERY_TASK_IGNORE_RESULT = True
# Ack after the task ran, so a worker killed mid-task has its message
# delivered again rather than dropped.
CELERY_TASK_ACKS_LATE = True
# When a pool process dies (SIGKILL, OOM), requeue its message instead of
# acking it as failed.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message at a time per process: a dying worker strands at most the
# events it is running, and busy workers do not hoard the queue.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection around every task
# unless this is set; then it closes it every this many tasks. A delivery task
# is often one event, and a new PostgreSQL connection costs more than the
# event. Between tasks the app's own tasks close connections as Django does
# between requests (integrations/tasks.py): past CONN_MAX_AGE, or broken.
CELERY_DB_REUSE_MAX = 100
# Redis redelivers an unacked message after the visibility timeout. It must
# outlast the longest countdown (SEG_MAX_COUNTDOWN, 60 s) and the longest
# task (SEG_LEASE), or Redis would hand a task to a second worker while the
# first still holds it. Retries due later wait on the row for the sweeper.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 2 * 60 * 60,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # A publish that finds no connection tries to connect once. Without this,
    # kombu keeps trying for CELERY_BROKER_CONNECTION_TIMEOUT, sleeping 2 s and
    # then 4 s: six seconds of the shop's request for each publish while Redis
    # is down, when the row is already stored and the sweeper will queue it.
    # The worker's own connection sets its own limit (below) and still
    # reconnects for as long as Redis is away.
    "max_retries": 0,
    # A worker polls its queues in the order of its -Q (seg, seg_browser, seg_backfill)
    # every time, where kombu's default takes them in turn: a backlog of pages'
    # wake-ups never stands between a worker and the next order's.
    "queue_order_strategy": "priority",
}
# A worker that loses Redis stops its running tasks rather than acking them
# on a connection that is gone; each first ends the post it has on the wire and
# stores its outcome (integrations/delivery/stopping.py), and the sweeper
# queues what it gave back.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Keep reconnecting however long Redis is away (the default gives up after
# 100 tries): the events wait in the database, the worker waits for Redis.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Survive losing Redis while holding unacknowledged messages (Celery 5.7's
# consumer exits; see integrations/worker.py).
CELERY_WORKER_CONSUMER = "integrations.worker:Consumer"
# The app's tasks go to their own queue; the shop's own tasks keep theirs.
CELERY_TASK_ROUTES = {"integrations.*": {"queue": QUEUE}}
# The sweeper every 10 s, the purge hourly.
CELERY_BEAT_SCHEDULE = beat_schedule()
