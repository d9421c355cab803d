"""The properties of the shop's Segment calls, per Segment's e-commerce spec (v2).

Each function returns ``{"event": name, "properties": {...}}`` for a page to pass to
``analytics.track``. Seg's fields come through as the app maps them
(docs/seg-contract.md): ``categories`` and ``brands`` on every call, a product line
per product, and the order's ``_p`` (profit), ``shipping``, ``tax``, ``discount``.
Money is sent as JSON numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from .basket import Line, Order
from .catalogue import CURRENCY, Category, Product

# Builds the absolute URL of a product page; the views pass the request's.
ProductUrl = Callable[[Product], str]


def _money(amount: Decimal) -> float:
    return float(amount)


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def product_line(item: Product, url: ProductUrl, quantity: int | None = None) -> dict[str, Any]:
    """A product as Segment's spec writes it, with Seg's ``categories`` and ``brands``."""
    line: dict[str, Any] = {
        "product_id": item.id,
        "sku": item.sku,
        "name": item.name,
        "category": item.category.name,
        "brand": item.brand,
        "price": _money(item.price),
        "currency": CURRENCY,
        "url": url(item),
        "categories": [item.category.name],
        "brands": [item.brand],
    }
    if quantity is not None:
        line["quantity"] = quantity
    return line


def list_viewed(chosen: Category | None, items: list[Product], url: ProductUrl) -> dict[str, Any]:
    """``Product List Viewed``: the catalogue, or one category of it."""
    properties: dict[str, Any] = {
        "list_id": chosen.slug if chosen else "all",
        "category": chosen.name if chosen else "All products",
        "categories": _distinct(item.category.name for item in items),
        "brands": _distinct(item.brand for item in items),
        "products": [
            product_line(item, url) | {"position": position}
            for position, item in enumerate(items, start=1)
        ],
    }
    return {"event": "Product List Viewed", "properties": properties}


def product_viewed(item: Product, url: ProductUrl) -> dict[str, Any]:
    return {"event": "Product Viewed", "properties": product_line(item, url)}


def product_added(line: Line, url: ProductUrl) -> dict[str, Any]:
    return {"event": "Product Added", "properties": product_line(line.product, url, line.quantity)}


def order_completed(order: Order, url: ProductUrl) -> dict[str, Any]:
    """``Order Completed`` with its lines, its money and its profit (``_p``)."""
    items = [line.product for line in order.lines]
    properties: dict[str, Any] = {
        "order_id": order.id,
        "total": _money(order.total),
        "revenue": _money(order.revenue),
        "shipping": _money(order.shipping),
        "tax": _money(order.tax),
        "discount": _money(order.discount),
        "currency": CURRENCY,
        "delivery_method": order.delivery_method,
        "_p": _money(order.profit),
        "categories": _distinct(item.category.name for item in items),
        "brands": _distinct(item.brand for item in items),
        "products": [product_line(line.product, url, line.quantity) for line in order.lines],
    }
    if order.coupon:
        properties["coupon"] = order.coupon
    return {"event": "Order Completed", "properties": properties}
