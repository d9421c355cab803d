"""The row and its wake-ups: the only writer of ``Event.status``.

``moves`` declares every legal status move and makes each one;
``finishing`` stores a worker's outcome with its move (through ``pgwire``, the
one place that speaks PostgreSQL's wire protocol); ``wakeups`` tells Celery to
look at rows; ``ordering`` keeps each customer's events in line;
``operations`` are what operators do; ``rules`` and ``sendable`` say what may
never be sent.
"""

from .finishing import Finishing, drop_unread, send_finish
from .moves import (
    HELD_REASON,
    MOVES,
    Actor,
    MoveName,
    changed_to_pending,
    due_since,
    forget_wake_ups,
    mark_queued,
    move,
    move_each,
)
from .operations import in_batches, replay, retry, suppress, unsuppress
from .operations import unsendable as count_unsendable
from .ordering import ahead, in_line, lines, waiting, wake_next
from .ordering import enabled as in_order
from .rules import active as active_rules
from .rules import forget as forget_rules
from .rules import matching as matching_rule
from .sendable import NOT_SENT, SENDABLE, erasing, unsendable
from .wakeups import QUEUES, batch_size, queue, wake
from .wakeups import release as queue_release
from .wakeups import started as wake_up_started

__all__ = [
    "HELD_REASON",
    "MOVES",
    "NOT_SENT",
    "QUEUES",
    "SENDABLE",
    "Actor",
    "Finishing",
    "MoveName",
    "active_rules",
    "ahead",
    "batch_size",
    "changed_to_pending",
    "count_unsendable",
    "drop_unread",
    "due_since",
    "erasing",
    "forget_rules",
    "forget_wake_ups",
    "in_batches",
    "in_line",
    "in_order",
    "lines",
    "mark_queued",
    "matching_rule",
    "move",
    "move_each",
    "queue",
    "queue_release",
    "replay",
    "retry",
    "send_finish",
    "suppress",
    "unsendable",
    "unsuppress",
    "waiting",
    "wake",
    "wake_next",
    "wake_up_started",
]
