"""One shopping visit in the demo storefront, as a list of Segment calls any client can send.

The properties are the storefront's own (``segproject.storefront.tracking``), so a
server-side client sends what the shop's pages send through analytics.js. What Seg
must receive for it is checked by ``expect_delivered``.
"""

from __future__ import annotations

from typing import Any

from integrations.dev.sandbox import Received
from segproject.storefront import basket, tracking
from segproject.storefront.catalogue import GAMES, PRODUCTS, Product, in_category

SHOP = "http://127.0.0.1:8000"


def url(item: Product) -> str:
    return f"{SHOP}/product/{item.id}/"


class Session(dict[str, Any]):
    """A plain dict stands in for Django's session."""


def visit(
    anonymous_id: str, user_id: str, email: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The anonymous part (pages, a category, a product, a basket), then the part after login."""
    monopoly, catan = PRODUCTS[0], PRODUCTS[1]
    session = Session()
    anon = {"anonymousId": anonymous_id}
    calls: list[dict[str, Any]] = [
        anon
        | {
            "type": "page",
            "name": "Board games",
            "properties": {"url": f"{SHOP}/category/board-games/"},
        },
        anon | {"type": "track"} | tracking.list_viewed(GAMES, in_category(GAMES), url),
        anon | {"type": "page", "name": "Monopoly", "properties": {"url": url(monopoly)}},
        anon | {"type": "track"} | tracking.product_viewed(monopoly, url),
        anon | {"type": "track"} | tracking.product_added(basket.add(session, monopoly, 2), url),
    ]
    basket.add(session, catan, 1)
    order = basket.place(session, "express", "DEMO10")
    user = {"userId": user_id, "anonymousId": anonymous_id}
    after = [
        user | {"type": "identify", "traits": {"email": email, "name": "Ann Smith"}},
        user | {"type": "track"} | tracking.order_completed(order, url),
    ]
    return calls, after


HELD = ["PageView", "RangeView", "PageView", "ProductView", "AddedToBasket"]


def expect_delivered(received: list[Received], email: str, user_id: str) -> None:
    """Seg got the customer, the held views in their order, and the order with its lines."""
    by_action: dict[str, list[Any]] = {}
    for item in received:
        by_action.setdefault(item.action, []).append(item.body)
    [customer] = by_action["update-customer"]
    assert customer["Email"] == email and customer["Id"] == user_id
    views = by_action["events"]
    assert [view["Event"] for view in views] == HELD
    assert all(view["Email"] == email for view in views)
    range_view = views[1]
    assert range_view["Category"] == "Board games"
    assert range_view["Categories"] == ["Board games"]
    assert range_view["Brands"] == ["Hasbro", "Kosmos", "Days of Wonder"]
    assert views[3]["Product"]["Id"] == PRODUCTS[0].id
    assert views[3]["Product"]["Brands"] == ["Hasbro"]
    assert views[4]["OrderLines"] == [views[3]["Product"] | {"Quantity": 2, "Added": True}]
    [order] = by_action["order-placed"]
    expect_order(order, email, user_id)


def expect_order(order: dict[str, Any], email: str, user_id: str) -> None:
    """The visit's order as Seg receives it: Monopoly x 2 and Catan, express, DEMO10."""
    assert order["Email"] == email and order["UserId"] == user_id
    assert order["Id"].startswith("SF-")
    # 2 x 19.00 + 39.90 = 77.90, less 10% (7.79) = 70.11, plus express delivery 9.95.
    assert (
        order["Total"] == 80.06 and order["Discount"] == 7.79 and order["DeliveryRevenue"] == 9.95
    )
    assert order["Tax"] == 11.68 and order["Revenue"] == 58.43 and order["Currency"] == "EUR"
    # Revenue less the goods' cost: 58.43 - (2 x 9.50 + 21.00).
    assert order["Profit"] == 18.43 and order["Coupon"] == "DEMO10"
    assert order["Categories"] == ["Board games"] and order["Brands"] == ["Hasbro", "Kosmos"]
    assert [(line["Id"], line["Quantity"], line["Price"]) for line in order["OrderLines"]] == [
        (PRODUCTS[0].id, 2, 19.0),
        (PRODUCTS[1].id, 1, 39.9),
    ]
