"""A placed Oscar order as Segment's ``Order Completed`` properties (e-commerce v2).

The keys are the ones the contract's OrderPlaced mapping reads
(docs/seg-contract.md, ``order-placed`` and "A product line"): ``order_id``,
``total``, ``revenue``, ``shipping``, ``tax``, ``discount``, ``coupon``,
``currency``, ``delivery_method``, ``categories``, ``brands`` and
``products`` with ``product_id``, ``sku``, ``name``, ``price``,
``original_price``, ``quantity``, ``image_url``, ``url``, ``categories`` and
``brands``. Money is exact decimal text (see ``catalogue.money``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from ...core import JSONObject
from .catalogue import money, product_page

# Oscar's discount categories that lower what the customer pays; a
# "Deferred" one is an action taken after the order, not money off.
MONEY_OFF = ("Basket", "Shipping")
MESSAGE_ID_SALT = "integrations.contrib.oscar.order"


def message_id(order: Any) -> str:
    """The messageId of an order's call: ``oscar-order-<number>-<signature>``.

    The same for the same order, so a repeat is stored once; its signature
    (the first 20 hex digits of an HMAC-SHA256 of the number keyed by
    SECRET_KEY, Django's ``salted_hmac``) keeps it unguessable from outside, though
    order numbers are predictable.
    """
    signature = salted_hmac(MESSAGE_ID_SALT, str(order.number), algorithm="sha256").hexdigest()
    return f"oscar-order-{order.number}-{signature[:20]}"


def order_properties(order: Any, request: HttpRequest | None) -> JSONObject:
    """``Order Completed`` properties for ``order``; keys without a value are left out.

    ``total`` is the order's total with tax, ``revenue`` the basket's total
    without tax or shipping (after discounts), ``shipping`` the shipping
    charge with tax, ``tax`` all tax, ``discount`` every basket and shipping
    discount, ``coupon`` the voucher codes joined by commas (``vouchers``
    lists them).
    """
    discounts = [d for d in order.discounts.all() if d.category in MONEY_OFF]
    codes = sorted({d.voucher_code for d in discounts if d.voucher_code})
    lines = order.lines.select_related("product").order_by("pk")
    products = [line_properties(line, request, order.currency) for line in lines]
    found: JSONObject = {
        "order_id": order.number,
        "total": money(order.total_incl_tax),
        "revenue": money(order.basket_total_excl_tax),
        "shipping": money(order.shipping_incl_tax),
        "tax": money(order.total_tax),
        "discount": money(sum((d.amount for d in discounts), Decimal(0))),
        "coupon": ",".join(codes) or None,
        "vouchers": codes,
        "currency": str(order.currency),
        # Oscar may leave a lazy translation here until the order is read back.
        "delivery_method": str(order.shipping_method) or None,
        "categories": _union(line.get("categories", []) for line in products) or None,
        "brands": _union(line.get("brands", []) for line in products) or None,
        "products": products,
    }
    return {key: value for key, value in found.items() if value is not None}


def line_properties(line: Any, request: HttpRequest | None, currency: str) -> JSONObject:
    """One order line as a Segment product.

    ``price`` is what one unit cost after discounts (the line's price over its
    quantity: exact whenever it divides), ``original_price`` the unit price
    before them. A line whose product was deleted keeps its title and SKU.
    """
    quantity = line.quantity
    paid = line.line_price_incl_tax / quantity if quantity else line.unit_price_incl_tax
    product = line.product
    found: JSONObject = {
        "product_id": str(line.product_id) if line.product_id else None,
        "sku": line.partner_sku or line.upc or None,
        "name": str(line.title),
        "price": money(paid),
        "original_price": money(line.unit_price_incl_tax),
        "quantity": quantity,
        "currency": currency,
    }
    if product is not None:
        found |= product_page(product, request)
    return {key: value for key, value in found.items() if value is not None}


def _union(groups: Any) -> list[str]:
    seen: dict[str, None] = {}
    for group in groups:
        seen.update(dict.fromkeys(group))
    return list(seen)
