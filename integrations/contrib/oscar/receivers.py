"""Receivers that turn Oscar's signals into Segment calls through the app's Python API.

Each call is stored in the shop's transaction (with ``ATOMIC_REQUESTS`` the
order and its ``Order Completed`` commit together), inside a savepoint of
its own: an error building or storing a call is logged and rolled back to
that savepoint, never raised into Oscar's view, so a checkout never fails
because of Seg. Each receiver sends only while its name is in
SEG_OSCAR_SIGNALS, read when the signal fires. Each call goes to the website
of the order's site, else of the request's site (SEG_WEBSITES).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth.signals import user_logged_in as django_user_logged_in
from django.db import transaction
from django.http import HttpRequest
from oscar.apps.basket.signals import basket_addition as oscar_basket_addition
from oscar.apps.catalogue.signals import product_viewed as oscar_product_viewed
from oscar.apps.customer.signals import user_registered as oscar_user_registered
from oscar.apps.order.signals import order_placed as oscar_order_placed

from ... import api
from ...core import JSONObject
from . import calls, conf, visitor
from .catalogue import offer_for, product_properties
from .orders import message_id

logger = logging.getLogger(__name__)

Receiver = Callable[..., None]
# The request attribute that marks a user identified while serving it, so that
# the login that follows a registration does not identify them again.
IDENTIFIED = "_seg_oscar_identified"


def guarded(name: str) -> Callable[[Callable[..., None]], Receiver]:
    """Make ``function`` the receiver named ``name``: on only while enabled, never raising.

    The call runs in a savepoint; any Exception is logged with its traceback
    (logger ``integrations.contrib.oscar.receivers``) and swallowed.
    """

    def wrap(function: Callable[..., None]) -> Receiver:
        @functools.wraps(function)
        def receiver(sender: Any, **kwargs: Any) -> None:
            if kwargs.get("raw") or not conf.enabled(name):
                return
            try:
                with transaction.atomic():
                    function(sender, **kwargs)
            except Exception:
                logger.exception("Seg: %s was not recorded; the shop goes on without it.", name)

        return receiver

    return wrap


@guarded("product_viewed")
def product_viewed(sender: Any, product: Any, user: Any, request: HttpRequest, **_: Any) -> None:
    """Oscar's product page was shown: track ``Product Viewed``."""
    properties = product_properties(product, request, offer_for(product, request))
    _track_product(request, user, "Product Viewed", properties)


@guarded("basket_addition")
def basket_addition(sender: Any, product: Any, user: Any, request: HttpRequest, **_: Any) -> None:
    """A product went into the basket: track ``Product Added`` with the quantity added."""
    properties = product_properties(product, request, offer_for(product, request))
    properties["quantity"] = _quantity(request.POST.get("quantity"))
    _track_product(request, user, "Product Added", properties)


def _track_product(request: HttpRequest, user: Any, event: str, properties: JSONObject) -> None:
    user_id, anonymous_id = visitor.user_id(user), visitor.anonymous_id(request)
    if user_id is None and anonymous_id is None:
        # Nobody Seg could ever name: without analytics.js's cookie an
        # anonymous visitor has no id to join a later identify.
        return
    context = visitor.context(request)
    website = visitor.website(request)
    api.track(
        user_id, event, properties, anonymous_id=anonymous_id, context=context, website=website
    )


def _quantity(value: str | None) -> int:
    """The quantity the basket form was sent with; 1 when missing or not a whole number."""
    try:
        quantity = int(value or 1)
    except ValueError:
        return 1
    return quantity if quantity > 0 else 1


@guarded("order_placed")
def order_placed(sender: Any, order: Any, **_: Any) -> None:
    """An order was placed: track ``Order Completed``, its messageId made from its number.

    A guest's order first identifies the visitor's anonymous id with the
    order's email, so their held browser events go out with it.
    """
    request = visitor.current_request()
    anonymous_id = visitor.anonymous_id(request)
    email = order.email or None
    website = visitor.website(request, order)
    if not order.user_id and anonymous_id is not None and email:
        api.identify(
            None,
            {"email": email},
            anonymous_id=anonymous_id,
            context=visitor.context(request),
            message_id=f"{message_id(order)}-guest",
            website=website,
        )
    api.send(calls.order_completed(order, request), website=website)


@guarded("user_registered")
def user_registered(sender: Any, request: HttpRequest, user: Any, **_: Any) -> None:
    """A customer registered: identify them with their email."""
    _identify(request, user)


@guarded("user_logged_in")
def user_logged_in(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    """A user logged in (Django's signal): identify them, unless done in this request."""
    if request is not None and getattr(request, IDENTIFIED, None) == user.pk:
        return
    _identify(request, user)


def _identify(request: HttpRequest | None, user: Any) -> None:
    call = calls.customer_identify(user, request)
    if call is None:
        return
    api.send(call, website=visitor.website(request))
    if request is not None:
        setattr(request, IDENTIFIED, user.pk)


def connect() -> None:
    """Connect each receiver to its signal (once: each has a dispatch_uid)."""
    for signal, receiver in (
        (oscar_product_viewed, product_viewed),
        (oscar_basket_addition, basket_addition),
        (oscar_order_placed, order_placed),
        (oscar_user_registered, user_registered),
        (django_user_logged_in, user_logged_in),
    ):
        signal.connect(receiver, dispatch_uid=f"seg_oscar.{receiver.__name__}")
