"""Match Segment e-commerce event names to Seg events: pure, no I/O."""

from __future__ import annotations

import re
from enum import StrEnum


class SegEvent(StrEnum):
    """The events Seg's tracker knows."""

    PAGE_VIEW = "PageView"
    RANGE_VIEW = "RangeView"
    PRODUCT_VIEW = "ProductView"
    ADDED_TO_BASKET = "AddedToBasket"
    ORDER_PLACED = "OrderPlaced"


class SegAction(StrEnum):
    """The tracker endpoints, the last segment of the URL path."""

    UPDATE_CUSTOMER = "update-customer"
    EVENTS = "events"
    ORDER_PLACED = "order-placed"
    ALIAS = "alias"


# (object words, verb) pairs; each matches in either word order, as Segment's
# v1 ("Viewed Product") and v2 ("Product Viewed") specs name them.
_NAMES: dict[SegEvent, tuple[tuple[str, str], ...]] = {
    SegEvent.RANGE_VIEW: (("product list", "viewed"), ("product category", "viewed")),
    SegEvent.PRODUCT_VIEW: (("product", "viewed"),),
    SegEvent.ADDED_TO_BASKET: (("product", "added"),),
    SegEvent.ORDER_PLACED: (("order", "completed"),),
}

_GAP = "[ _]?"


def _words(phrase: str) -> str:
    return _GAP.join(re.escape(word) for word in phrase.split())


def _pattern(noun: str, verb: str) -> str:
    noun_first = _GAP.join((_words(noun), _words(verb)))
    verb_first = _GAP.join((_words(verb), _words(noun)))
    return f"{noun_first}|{verb_first}"


_MATCHERS: tuple[tuple[re.Pattern[str], SegEvent], ...] = tuple(
    (re.compile(rf"^[ _]?(?:{_pattern(noun, verb)})[ _]?$", re.IGNORECASE), event)
    for event, pairs in _NAMES.items()
    for noun, verb in pairs
)

ACTION_FOR_EVENT: dict[SegEvent, SegAction] = {
    SegEvent.PAGE_VIEW: SegAction.EVENTS,
    SegEvent.RANGE_VIEW: SegAction.EVENTS,
    SegEvent.PRODUCT_VIEW: SegAction.EVENTS,
    SegEvent.ADDED_TO_BASKET: SegAction.EVENTS,
    SegEvent.ORDER_PLACED: SegAction.ORDER_PLACED,
}


def seg_event_for(name: str) -> SegEvent | None:
    """The Seg event a track name maps to, or None when Seg has no use for it.

    >>> seg_event_for("order_completed")
    <SegEvent.ORDER_PLACED: 'OrderPlaced'>
    >>> seg_event_for("Order\u00a0 Completed ")
    <SegEvent.ORDER_PLACED: 'OrderPlaced'>
    >>> seg_event_for("Viewed Product Details") is None
    True
    """
    words = " ".join(name.split())  # any run of Unicode whitespace is one space; trimmed
    for pattern, event in _MATCHERS:
        if pattern.match(words):
            return event
    return None
