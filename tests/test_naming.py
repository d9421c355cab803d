"""Event names match as Segment's libraries match them, and nothing else does."""

from __future__ import annotations

import pytest

from integrations.core.naming import SegEvent, seg_event_for

MATCHES = [
    ("Product List Viewed", SegEvent.RANGE_VIEW),
    ("Viewed Product Category", SegEvent.RANGE_VIEW),
    ("Product Category Viewed", SegEvent.RANGE_VIEW),
    ("viewed_product_category", SegEvent.RANGE_VIEW),
    ("ProductListViewed", SegEvent.RANGE_VIEW),
    ("Product Viewed", SegEvent.PRODUCT_VIEW),
    ("Viewed Product", SegEvent.PRODUCT_VIEW),
    ("viewedProduct", SegEvent.PRODUCT_VIEW),
    ("Product Added", SegEvent.ADDED_TO_BASKET),
    ("Added Product", SegEvent.ADDED_TO_BASKET),
    ("added_product", SegEvent.ADDED_TO_BASKET),
    ("Order Completed", SegEvent.ORDER_PLACED),
    ("Completed Order", SegEvent.ORDER_PLACED),
    ("order_completed", SegEvent.ORDER_PLACED),
    ("OrderCompleted", SegEvent.ORDER_PLACED),
    ("completed order", SegEvent.ORDER_PLACED),
    ("ORDER COMPLETED", SegEvent.ORDER_PLACED),
]

IGNORED = [
    "Viewed Product Details",
    "Order Updated",
    "Product Removed",
    "Checkout Started",
    "Order Completed Twice",
    "Order-Completed",
    "Products Viewed",
    "",
]


@pytest.mark.parametrize(("name", "expected"), MATCHES)
def test_matches(name: str, expected: SegEvent) -> None:
    assert seg_event_for(name) is expected


@pytest.mark.parametrize("name", IGNORED)
def test_ignored(name: str) -> None:
    assert seg_event_for(name) is None
