"""The basket and the orders, kept in the visitor's session (the demo has no tables)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .catalogue import COUPONS, DELIVERY, VAT_SHARE, Product, product

BASKET = "storefront.basket"  # {product id: quantity}
ORDERS = "storefront.orders"  # {order id: Order.as_session()}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Line:
    product: Product
    quantity: int

    @property
    def amount(self) -> Decimal:
        return self.product.price * self.quantity


def add(session: Any, item: Product, quantity: int = 1) -> Line:
    """Put ``quantity`` more of ``item`` in the basket; returns what was added."""
    basket = dict(session.get(BASKET, {}))
    basket[item.id] = basket.get(item.id, 0) + quantity
    session[BASKET] = basket
    return Line(item, quantity)


def lines(session: Any) -> list[Line]:
    """The basket's lines, in the order they were first added."""
    found = ((product(pid), quantity) for pid, quantity in session.get(BASKET, {}).items())
    return [Line(item, quantity) for item, quantity in found if item is not None]


def count(session: Any) -> int:
    return sum(session.get(BASKET, {}).values())


@dataclass(frozen=True)
class Order:
    """An order's money, in euros: ``total`` is what the customer pays."""

    id: str
    lines: list[Line]
    delivery_method: str
    coupon: str
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal
    total: Decimal
    revenue: Decimal
    """The goods after the discount, without VAT (Segment's ``revenue``)."""
    profit: Decimal
    """The revenue less what the goods cost the shop."""


def place(session: Any, delivery_method: str, coupon: str) -> Order:
    """Turn the basket into an order kept in the session, and empty the basket.

    ``delivery_method`` is a key of ``DELIVERY``; an unknown ``coupon`` gives no
    discount. Raises ``ValueError`` for an empty basket or an unknown delivery.
    """
    basket = lines(session)
    if not basket:
        raise ValueError("The basket is empty.")
    if delivery_method not in DELIVERY:
        raise ValueError(f"Unknown delivery method {delivery_method!r}.")
    coupon = coupon.strip().upper()
    subtotal = sum((line.amount for line in basket), Decimal(0))
    discount = (subtotal * COUPONS.get(coupon, Decimal(0))).quantize(CENT)
    goods = subtotal - discount
    shipping = DELIVERY[delivery_method]
    tax = (goods * VAT_SHARE).quantize(CENT)
    revenue = goods - tax
    cost = sum((line.product.cost * line.quantity for line in basket), Decimal(0))
    order = Order(
        id=f"SF-{secrets.token_hex(6)}",
        lines=basket,
        delivery_method=delivery_method,
        coupon=coupon if coupon in COUPONS else "",
        subtotal=subtotal,
        discount=discount,
        shipping=shipping,
        tax=tax,
        total=goods + shipping,
        revenue=revenue,
        profit=revenue - cost,
    )
    orders = dict(session.get(ORDERS, {}))
    orders[order.id] = _stored(order)
    session[ORDERS] = orders
    session[BASKET] = {}
    return order


def placed(session: Any, order_id: str) -> Order | None:
    """An order this session placed, or None."""
    stored = session.get(ORDERS, {}).get(order_id)
    if stored is None:
        return None
    found = [(product(pid), quantity) for pid, quantity in stored["lines"]]
    money = {name: Decimal(stored[name]) for name in MONEY}
    return Order(
        id=order_id,
        lines=[Line(item, quantity) for item, quantity in found if item is not None],
        delivery_method=stored["delivery_method"],
        coupon=stored["coupon"],
        **money,
    )


MONEY = ("subtotal", "discount", "shipping", "tax", "total", "revenue", "profit")


def _stored(order: Order) -> dict[str, Any]:
    """The order as the session's JSON serializer can keep it (money as strings)."""
    return {
        "lines": [[line.product.id, line.quantity] for line in order.lines],
        "delivery_method": order.delivery_method,
        "coupon": order.coupon,
        **{name: str(getattr(order, name)) for name in MONEY},
    }
