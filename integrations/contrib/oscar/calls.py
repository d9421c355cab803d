"""The Segment calls an Oscar order and an Oscar customer make, for the receivers and the backfill.

One place builds them, so a customer or an order the backfill sends from the
shop's history reads at Seg as the live receivers would have sent it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from ...conf import identifies
from ...core import JSONObject
from . import visitor
from .orders import message_id, order_properties

CUSTOMER_ID_SALT = "integrations.contrib.oscar.customer"


def order_completed(order: Any, request: HttpRequest | None) -> JSONObject:
    """``Order Completed`` for ``order`` (a Segment track call), dated ``order.date_placed``,
    its messageId ``orders.message_id``.

    The userId is the customer's pk; a guest's order without analytics.js's
    cookie takes the messageId as its anonymousId (Segment needs one id; the
    email in ``context.traits`` names the customer). A staff member's order
    (``conf.identifies``) is sent with the order's email, tied to no userId and
    no anonymous id.
    """
    user_id = visitor.user_id(order.user) if order.user_id else None
    # A staff member's order (without SEG_IDENTIFY_STAFF) goes with its email but
    # names no browser visitor: the browser may be a shopper's the operator used.
    staff = order.user_id is not None and user_id is None
    anonymous_id = None if staff else visitor.anonymous_id(request)
    context = visitor.context(request)
    if order.email:
        context["traits"] = {"email": order.email}
    if user_id is None and anonymous_id is None:
        anonymous_id = message_id(order)
    call: JSONObject = {
        "type": "track",
        "event": "Order Completed",
        "properties": order_properties(order, request),
        "context": context,
        "timestamp": order.date_placed.isoformat(),
        "messageId": message_id(order),
    }
    return _with_ids(call, user_id, anonymous_id)


def customer_identify(
    user: Any,
    request: HttpRequest | None,
    *,
    timestamp: datetime | None = None,
    message_id: str | None = None,
) -> JSONObject | None:
    """``identify`` for a customer: userId their pk, traits ``email``, ``firstName``,
    ``lastName`` and ``createdAt`` (``date_joined``); None without an email, and for a
    staff member or superuser without SEG_IDENTIFY_STAFF (``conf.identifies``: logging in
    to the admin on the shop's host names no shopper).

    ``timestamp`` and ``message_id`` are left to ingest (now, a fresh id) unless given.
    """
    email = getattr(user, "email", "") or ""
    if not email or not identifies(user):
        return None
    traits: JSONObject = {"email": email}
    if first := getattr(user, "first_name", ""):
        traits["firstName"] = first
    if last := getattr(user, "last_name", ""):
        traits["lastName"] = last
    if joined := getattr(user, "date_joined", None):
        traits["createdAt"] = joined.isoformat()
    call: JSONObject = {"type": "identify", "traits": traits, "context": visitor.context(request)}
    if timestamp is not None:
        call["timestamp"] = timestamp.isoformat()
    if message_id is not None:
        call["messageId"] = message_id
    return _with_ids(call, str(user.pk), visitor.anonymous_id(request))


def customer_message_id(user: Any, website: str) -> str:
    """The backfill's messageId of a customer's identify at the Seg website ``website``:
    ``oscar-customer-<pk>-<signature>``, signed as ``orders.message_id`` is (SECRET_KEY's
    ``salted_hmac``, 20 hex digits) over ``<pk>:<website>``: one id per customer and website."""
    signed = f"{user.pk}:{website}"
    signature = salted_hmac(CUSTOMER_ID_SALT, signed, algorithm="sha256").hexdigest()
    return f"oscar-customer-{user.pk}-{signature[:20]}"


def _with_ids(call: JSONObject, user_id: str | None, anonymous_id: str | None) -> JSONObject:
    if user_id is not None:
        call["userId"] = user_id
    if anonymous_id is not None:
        call["anonymousId"] = anonymous_id
    return call
