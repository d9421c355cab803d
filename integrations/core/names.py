"""The names the app's Celery tasks and queues go by, in one place: the tasks, their
publishers, the Celery settings and the system checks all read them here."""

from __future__ import annotations

# The queues: ``seg`` for the shop's server's events, the sweeper and the purge;
# ``seg_browser`` for pages' events; ``seg_backfill`` for a backfill's (the shop's
# history). A worker serves all three, in that order.
QUEUE = "seg"
BROWSER_QUEUE = "seg_browser"
BACKFILL_QUEUE = "seg_backfill"

DELIVER_EVENT = "integrations.deliver_event"
DELIVER_EVENTS = "integrations.deliver_events"
FAN_OUT = "integrations.fan_out"
RELEASE = "integrations.release_held"
SWEEP = "integrations.sweep"
PURGE = "integrations.purge"

# The tasks that carry deliveries: each must be acked late and requeued when its
# process dies, or a worker killed mid-task loses the events it held.
DELIVERY_TASKS = (DELIVER_EVENT, DELIVER_EVENTS, FAN_OUT)
# Every task of the app's; its signal handlers act on these alone.
TASKS = frozenset({*DELIVERY_TASKS, RELEASE, SWEEP, PURGE})
