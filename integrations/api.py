"""The Python API for a shop's own code: identify, track, page and alias.

``integrations`` is Segment's integrations object: ``{"Seg": False}`` (or
``{"All": False}``) stores the call as withheld, never sent.

Each call is stored inside the caller's transaction (so an order and its
OrderPlaced event commit together, or not at all) and is queued for
delivery only after that transaction commits. Each returns the messageId.
Raises InvalidMessage, naming the field, for a call that cannot be stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .core import JSONObject
from .ingest import ingest


def _call(kind: str, fields: dict[str, Any]) -> str:
    message: JSONObject = {}
    for key, value in fields.items():
        if value is None:
            continue
        message[key] = value.isoformat() if isinstance(value, datetime) else value
    return send(message, kind)


def send(message: JSONObject, kind: str | None = None) -> str:
    """Store one whole Segment call, as a batch's item is (``type`` in it, unless ``kind``
    names it); returns its messageId. Raises InvalidMessage, naming the field."""
    result = ingest([message], kind)
    if result.errors:
        raise result.errors[0][1]
    return result.message_ids[0] if result.message_ids else str(message.get("messageId", ""))


def identify(
    user_id: str | None = None,
    traits: JSONObject | None = None,
    *,
    anonymous_id: str | None = None,
    context: JSONObject | None = None,
    timestamp: datetime | None = None,
    message_id: str | None = None,
    integrations: JSONObject | None = None,
) -> str:
    """Tell Seg who a customer is; ``traits['email']`` makes them known."""
    return _call(
        "identify",
        {
            "userId": user_id,
            "anonymousId": anonymous_id,
            "traits": traits,
            "context": context,
            "timestamp": timestamp,
            "messageId": message_id,
            "integrations": integrations,
        },
    )


def track(
    user_id: str | None = None,
    event: str = "",
    properties: JSONObject | None = None,
    *,
    anonymous_id: str | None = None,
    context: JSONObject | None = None,
    timestamp: datetime | None = None,
    message_id: str | None = None,
    integrations: JSONObject | None = None,
) -> str:
    """Record an e-commerce event such as 'Order Completed'."""
    return _call(
        "track",
        {
            "userId": user_id,
            "anonymousId": anonymous_id,
            "event": event,
            "properties": properties,
            "context": context,
            "timestamp": timestamp,
            "messageId": message_id,
            "integrations": integrations,
        },
    )


def page(
    user_id: str | None = None,
    category: str | None = None,
    name: str | None = None,
    properties: JSONObject | None = None,
    *,
    anonymous_id: str | None = None,
    context: JSONObject | None = None,
    timestamp: datetime | None = None,
    message_id: str | None = None,
    integrations: JSONObject | None = None,
) -> str:
    """Record a page view; ``properties`` may carry url, title, path and referrer."""
    return _call(
        "page",
        {
            "userId": user_id,
            "anonymousId": anonymous_id,
            "category": category,
            "name": name,
            "properties": properties,
            "context": context,
            "timestamp": timestamp,
            "messageId": message_id,
            "integrations": integrations,
        },
    )


def alias(
    previous_id: str,
    user_id: str,
    *,
    context: JSONObject | None = None,
    timestamp: datetime | None = None,
    message_id: str | None = None,
    integrations: JSONObject | None = None,
) -> str:
    """Move a customer from one email to another (ignored unless both are emails)."""
    return _call(
        "alias",
        {
            "previousId": previous_id,
            "userId": user_id,
            "context": context,
            "timestamp": timestamp,
            "messageId": message_id,
            "integrations": integrations,
        },
    )
