"""Parse and validate Segment-spec calls: pure functions, no I/O."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

from ..exceptions import InvalidMessage, InvalidRequest, PayloadTooLarge
from .values import js_number
from .wire import JSON, JSONObject, SegmentMessage

# Segment's own limits.
MAX_MESSAGE_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500
# Deeper than any real message; keeps hostile nesting out of the database.
MAX_DEPTH = 32
MAX_ID_LENGTH = 255

MAPPED_TYPES = ("identify", "track", "page", "alias")
# Valid Segment calls that Seg has no use for: stored as ignored, not refused.
UNMAPPED_TYPES = ("screen", "group")
TYPES = MAPPED_TYPES + UNMAPPED_TYPES
# analytics.js's short paths, and analytics-ruby's /v1/import, which Segment
# treats as /v1/batch.
SHORT_PATHS = {
    "i": "identify",
    "t": "track",
    "p": "page",
    "a": "alias",
    "b": "batch",
    "import": "batch",
}
# The objects of Segment's common context fields; PHP may send any as [].
CONTEXT_OBJECTS = frozenset(
    (
        "app",
        "campaign",
        "device",
        "library",
        "location",
        "network",
        "os",
        "page",
        "referrer",
        "screen",
        "traits",
    )
)

# The objects a batch may carry for all its messages (Segment's HTTP API).
SHARED = ("context", "integrations")

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def split_batch(body: JSON) -> tuple[list[JSON], JSONObject]:
    """Return the messages of a batch body and what they share: the batch's own
    ``context`` and ``integrations`` objects (Segment's HTTP API), each under its key.

    Raises InvalidRequest when the body is not ``{"batch": [...]}`` and
    PayloadTooLarge past MAX_BATCH_MESSAGES.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("A batch must be a JSON object.", "batch")
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise InvalidRequest("batch must be a list of messages.", "batch")
    if len(batch) > MAX_BATCH_MESSAGES:
        raise PayloadTooLarge(f"A batch holds at most {MAX_BATCH_MESSAGES} messages.", "batch")
    shared: JSONObject = {}
    for key in SHARED:
        if isinstance(value := body.get(key), dict):
            shared[key] = value
    return batch, shared


def as_object(value: JSON, field: str) -> JSONObject:
    """``value`` as the JSON object the spec wants at ``field``.

    PHP's ``json_encode`` writes an empty associative array as ``[]``, so PHP
    clients send ``"traits": []``: an empty list reads as ``{}``. Raises
    InvalidMessage naming ``field`` for anything else that is not an object.
    """
    if isinstance(value, dict):
        return value
    if value == []:
        return {}
    raise InvalidMessage(f"{field} must be an object.", field)


def _context(value: JSON) -> JSONObject:
    """The message's context, with the spec's empty sub-objects read as ``{}`` too."""
    context = as_object(value, "context")
    if any(context.get(key) == [] for key in CONTEXT_OBJECTS):
        context = {
            key: {} if key in CONTEXT_OBJECTS and item == [] else item
            for key, item in context.items()
        }
    return context


def with_shared(raw: JSON, shared: JSONObject) -> JSON:
    """A batch message with its batch's shared objects (``split_batch``) merged in:
    each of the message's own keys wins over the batch's."""
    if not shared or not isinstance(raw, dict):
        return raw
    merged = dict(raw)
    for key in SHARED:
        common = shared.get(key)
        if isinstance(common, dict):
            own = raw.get(key)
            merged[key] = dict(common, **own) if isinstance(own, dict) else dict(common)
    return merged


def validate(raw: JSON, call_type: str | None = None) -> SegmentMessage:
    """Check one message and return its validated form.

    ``call_type`` is the type the path implies (a batch item names its own).
    The returned message has a ``messageId`` (made here when absent) and ids
    as strings. Raises InvalidMessage naming the field, or PayloadTooLarge.
    """
    if not isinstance(raw, dict):
        raise InvalidMessage("A message must be a JSON object.")
    check_storable(raw)
    kind = call_type or raw.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        raise InvalidMessage(f"type must be one of {', '.join(TYPES)}.", "type")
    message: SegmentMessage = {"type": kind, "messageId": _message_id(raw)}
    for key in ("userId", "anonymousId", "previousId"):
        value = _identifier(raw, key)
        if value is not None:
            message[key] = value
    if "userId" not in message and "anonymousId" not in message:
        raise InvalidMessage("A message needs a userId or an anonymousId.", "userId")
    for key in ("traits", "properties"):
        if (value := raw.get(key)) is not None:
            message[key] = as_object(value, key)  # type: ignore[literal-required]
    if (value := raw.get("context")) is not None:
        message["context"] = _context(value)
    if (value := raw.get("integrations")) is not None:
        as_object(value, "integrations")
    for key in ("timestamp", "originalTimestamp", "sentAt"):
        value = raw.get(key)
        if value is None or value == "":
            continue
        # A time that is not a string cannot be read: the event keeps its
        # receipt time and a warning, as for any unreadable time.
        text = value if isinstance(value, str) else json.dumps(value)[:100]
        message[key] = text  # type: ignore[literal-required]
    for key in ("event", "name", "category"):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidMessage(f"{key} must be a string.", key)
        message[key] = value  # type: ignore[literal-required]
    if kind == "track" and not message.get("event", "").strip():
        raise InvalidMessage("A track call needs an event name.", "event")
    if len(message.get("event", "")) > MAX_ID_LENGTH:
        raise InvalidMessage(f"event is longer than {MAX_ID_LENGTH} characters.", "event")
    if kind == "alias" and ("previousId" not in message or "userId" not in message):
        field = "previousId" if "previousId" not in message else "userId"
        raise InvalidMessage("An alias call needs a previousId and a userId.", field)
    return message


def _message_id(raw: JSONObject) -> str:
    value = raw.get("messageId")
    if value is None or value == "":
        return str(uuid.uuid4())
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidMessage("messageId must be a string.", "messageId")
    value = value if isinstance(value, str) else js_number(value)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidMessage(f"messageId is longer than {MAX_ID_LENGTH} characters.", "messageId")
    return value


def _identifier(raw: JSONObject, key: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    # Segment's libraries send numeric ids as strings; accept both.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidMessage(f"{key} must be a string.", key)
    value = value if isinstance(value, str) else js_number(value)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidMessage(f"{key} is longer than {MAX_ID_LENGTH} characters.", key)
    return value


def check_storable(raw: JSONObject) -> None:
    """Refuse a message the database could not store, or that is over 32 KB.

    PostgreSQL's jsonb refuses NUL characters and lone surrogates, and deep
    nesting is refused here before it reaches any parser downstream.
    """
    try:
        text = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidMessage(
            "The message holds text that is not valid Unicode.", _first_bad_path(raw)
        ) from None
    if size > MAX_MESSAGE_BYTES:
        raise PayloadTooLarge(f"The message is over {MAX_MESSAGE_BYTES // 1024} KB.")
    if "\\u0000" in text and (path := _first_bad_path(raw)) is not None:
        raise InvalidMessage("The message holds a NUL character.", path)
    # Nesting can only go deeper than MAX_DEPTH if there are that many containers.
    if text.count("{") + text.count("[") > MAX_DEPTH:
        for path, depth in _depths(raw, ""):
            if depth > MAX_DEPTH:
                raise InvalidMessage(f"The message nests deeper than {MAX_DEPTH} levels.", path)


def _bad_text(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _first_bad_path(value: JSON, path: str = "") -> str | None:
    if isinstance(value, str):
        return path or None if _bad_text(value) else None
    items: Iterator[tuple[str, JSON]]
    if isinstance(value, dict):
        for key in value:
            if _bad_text(key):
                return f"{path}.{key!r}".lstrip(".")
        items = ((f"{path}.{key}".lstrip("."), item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    for child_path, item in items:
        if (found := _first_bad_path(item, child_path)) is not None:
            return found
    return None


def _depths(value: JSON, path: str, depth: int = 0) -> Iterator[tuple[str, int]]:
    if isinstance(value, dict):
        yield path, depth + 1
        for key, item in value.items():
            if depth + 1 <= MAX_DEPTH:
                yield from _depths(item, f"{path}.{key}".lstrip("."), depth + 1)
    elif isinstance(value, list):
        yield path, depth + 1
        for index, item in enumerate(value):
            if depth + 1 <= MAX_DEPTH:
                yield from _depths(item, f"{path}[{index}]", depth + 1)


def normalize_email(value: object) -> str | None:
    """Return ``value`` as a lower-cased email, or None when it is not one.

    Seg keys customers on their email, so one casing avoids twin customers.
    """
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    return email if len(email) <= 254 and EMAIL_RE.match(email) else None


def email_in(message: SegmentMessage) -> str | None:
    """The email a message itself carries: traits.email, context.traits.email, or userId."""
    traits = message.get("traits") or {}
    context_traits = (message.get("context") or {}).get("traits")
    candidates = [traits.get("email")]
    if isinstance(context_traits, dict):
        candidates.append(context_traits.get("email"))
    candidates.append(message.get("userId"))
    for candidate in candidates:
        if (email := normalize_email(candidate)) is not None:
            return email
    return None
