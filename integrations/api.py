"""The Python API for a shop's own code: identify, track, page and alias; and erase and
unsuppress, for a customer's erasure request (``integrations.erasure``).

``integrations`` is Segment's integrations object: ``{"Seg": False}`` (or
``{"All": False}``) stores the call as withheld, never sent.

Each call is stored inside the caller's transaction (so an order and its
OrderPlaced event commit together, or not at all) and is queued for
delivery only after that transaction commits. Each returns the messageId.
Raises InvalidMessage, naming the field, for a call that cannot be stored.

``website`` names the store a call belongs to, in a project with several
(SEG_WEBSITES): a Seg Website Id, or any key of SEG_WEBSITES (a write key, a
Django site id or domain); None for SEG_WEBSITE_ID. A name that reaches no
website raises SegConfigurationError.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import conf, erasure
from .core import JSONObject
from .ingest import ingest
from .models import ErasureRequest


def _call(kind: str, fields: dict[str, Any], website: str | int | None = None) -> str:
    message: JSONObject = {}
    for key, value in fields.items():
        if value is None:
            continue
        message[key] = value.isoformat() if isinstance(value, datetime) else value
    return send(message, kind, website)


def send(message: JSONObject, kind: str | None = None, website: str | int | None = None) -> str:
    """Store one whole Segment call, as a batch's item is (``type`` in it, unless ``kind``
    names it), for ``website`` (a Website Id or a key of SEG_WEBSITES; default: the
    single store's); returns its messageId. Raises InvalidMessage, naming the field, and
    SegConfigurationError for a website SEG_WEBSITES does not name."""
    result = ingest([message], kind, via="api", website=conf.website_for(website))
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
    website: str | int | None = None,
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
        website,
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
    website: str | int | None = None,
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
        website,
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
    website: str | int | None = None,
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
        website,
    )


def alias(
    previous_id: str,
    user_id: str,
    *,
    context: JSONObject | None = None,
    timestamp: datetime | None = None,
    message_id: str | None = None,
    integrations: JSONObject | None = None,
    website: str | int | None = None,
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
        website,
    )


def erase(
    email: str | None = None,
    user_id: str | None = None,
    *,
    delete: bool = True,
    suppress: bool = False,
    by: str = "integrations.api",
) -> ErasureRequest:
    """Erase a customer (GDPR art. 17): every email, userId and anonymousId tied to the
    ``email`` or ``user_id`` given; with ``suppress``, their later calls are refused.

    Deletes their events, attempts, status history, identities and aliases in
    batches, and returns the request's record (``counts``, and ``seg_to_tell``:
    Seg must still be asked to erase them). Call it outside a transaction: each
    batch commits on its own. Raises ErasureError for a request naming no one.
    """
    return erasure.erase(email, user_id, delete=delete, suppress=suppress, by=by)


def unsuppress(
    email: str | None = None, user_id: str | None = None, *, by: str = "integrations.api"
) -> ErasureRequest:
    """Lift the suppression of the customer ``email`` or ``user_id`` names; the record."""
    return erasure.unsuppress(email, user_id, by=by)
