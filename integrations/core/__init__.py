"""Pure code, no I/O: the wire formats, request bodies, the Segment spec, event names,
typed values, event times, routing, Seg's payloads and Seg's answers.

Nothing here touches the database, the network, Redis or Celery
(``tests/test_layout.py`` checks it), so all of it is tested without them.
"""

from .answers import RetryPolicy, Verdict, classify_status, error_class, parse_retry_after
from .bodies import decode_body
from .clocks import event_time
from .naming import SegAction, SegEvent
from .payloads import map_or_ignore, order_id, with_email
from .processes import per_process
from .routing import withheld
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
    "JSON",
    "MAX_REQUEST_BYTES",
    "SHORT_PATHS",
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
