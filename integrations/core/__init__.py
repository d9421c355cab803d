"""Pure code, no I/O: the wire formats, request bodies, the Segment spec, event names,
typed values, event times, routing, Seg's payloads and Seg's answers, and the names
of the app's tasks and queues.

Nothing here touches the database, the network, Redis or Celery
(``tests/test_layout.py`` checks it), so all of it is tested without them.
"""

from .answers import RetryPolicy, Verdict, classify_status, error_class, parse_retry_after
from .bodies import decode_body
from .clocks import event_time
from .names import (
    BROWSER_QUEUE,
    DELIVER_EVENT,
    DELIVER_EVENTS,
    DELIVERY_TASKS,
    FAN_OUT,
    PURGE,
    QUEUE,
    RELEASE,
    SWEEP,
    TASKS,
)
from .naming import SegAction, SegEvent
from .payloads import map_or_ignore, order_id, with_email
from .processes import per_process
from .routing import WITHHELD_BY, withheld
from .spec import (
    MAX_REQUEST_BYTES,
    SHORT_PATHS,
    email_in,
    normalize_email,
    split_batch,
    validate,
    with_shared,
)
from .wire import JSON, JSONObject, SegmentMessage

__all__ = [
    "BROWSER_QUEUE",
    "DELIVERY_TASKS",
    "DELIVER_EVENT",
    "DELIVER_EVENTS",
    "FAN_OUT",
    "JSON",
    "MAX_REQUEST_BYTES",
    "PURGE",
    "QUEUE",
    "RELEASE",
    "SHORT_PATHS",
    "SWEEP",
    "TASKS",
    "WITHHELD_BY",
    "JSONObject",
    "RetryPolicy",
    "SegAction",
    "SegEvent",
    "SegmentMessage",
    "Verdict",
    "classify_status",
    "decode_body",
    "email_in",
    "error_class",
    "event_time",
    "map_or_ignore",
    "normalize_email",
    "order_id",
    "parse_retry_after",
    "per_process",
    "split_batch",
    "validate",
    "with_email",
    "with_shared",
    "withheld",
]
