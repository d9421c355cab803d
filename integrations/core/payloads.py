"""Build Seg tracker payloads from validated Segment messages: pure, no I/O.

Each builder reads a message and returns the JSON object that goes to Seg,
plus warnings for values it could not read (a bad value is left out, never
fatal). Field names and sources follow the tracker contract.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .clocks import event_time, iso_utc, time_warnings
from .naming import ACTION_FOR_EVENT, SegAction, SegEvent, seg_event_for
from .spec import normalize_email
from .values import Reader
from .wire import JSONObject, SegmentMessage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mapping:
    """What one Segment call becomes. ``action`` is None when Seg gets nothing."""

    action: SegAction | None
    seg_event: SegEvent | None
    payload: JSONObject | None
    warnings: tuple[str, ...] = ()
    reason: str = ""


def _compact(pairs: dict[str, Any]) -> JSONObject:
    return {key: value for key, value in pairs.items() if value is not None}


def _common(message: SegmentMessage, email: str | None, received_at: datetime) -> JSONObject:
    return _compact(
        {
            "MessageId": message["messageId"],
            "Date": iso_utc(event_time(message, received_at)),
            "Email": email,
            "UserId": message.get("userId"),
            "AnonymousId": message.get("anonymousId"),
        }
    )


def with_email(payload: JSONObject, email: str) -> JSONObject:
    """The payload with ``Email`` set, kept in its place after ``Date``."""
    rebuilt: JSONObject = {}
    for key, value in payload.items():
        if key == "Email":
            continue
        rebuilt[key] = value
        if key == "Date":
            rebuilt["Email"] = email
    rebuilt.setdefault("Email", email)
    return rebuilt


def map_message(message: SegmentMessage, email: str | None, received_at: datetime) -> Mapping:
    """Map one validated message to what Seg receives.

    ``email`` is the customer's current email as identity resolution gives it
    (None while the visitor is anonymous). Never raises for bad values: they
    are left out and reported in ``Mapping.warnings``.
    """
    kind = message["type"]
    if kind == "identify":
        return _identify(message, email, received_at)
    if kind == "track":
        return _track(message, email, received_at)
    if kind == "page":
        return _page(message, email, received_at)
    if kind == "alias":
        return _alias(message, received_at)
    return Mapping(None, None, None, reason=f"Seg has no use for {kind} calls.")


def _identify(message: SegmentMessage, email: str | None, received_at: datetime) -> Mapping:
    if email is None:
        return Mapping(None, None, None, reason="No email yet; the identity is remembered.")
    traits = message.get("traits") or {}
    read = Reader(traits, "traits")
    first, last = read.text("firstName", "first_name"), read.text("lastName", "last_name")
    name = read.text("name")
    if name and first is None and last is None:
        first, _, rest = name.strip().partition(" ")
        last = rest.strip() or None
    payload = _common(message, email, received_at) | _compact(
        {
            "Id": message.get("userId"),
            "FirstName": first,
            "LastName": last,
            "Title": read.text("title"),
            "Gender": read.text("gender"),
            "CountryCode": _country(read),
            "Traits": traits,
        }
    )
    warnings = time_warnings(message, received_at) + read.warnings
    return Mapping(SegAction.UPDATE_CUSTOMER, None, payload, tuple(warnings))


def _country(read: Reader) -> str | None:
    address = read.raw("address")
    value = address.get("country") if isinstance(address, dict) else None
    value = value or read.raw("country")
    if value is None:
        return None
    if isinstance(value, str) and len(value.strip()) == 2 and value.strip().isalpha():
        return value.strip().upper()
    read.warn("country", value, "is not an ISO 3166-1 alpha-2 code")
    return None


def _page_fields(message: SegmentMessage, read: Reader) -> JSONObject:
    page = (message.get("context") or {}).get("page")
    fallback = Reader(page if isinstance(page, dict) else {}, "context.page", read.warnings)
    own = message["type"] == "page"

    def pick(key: str) -> str | None:
        value = read.text(key) if own else None
        return value if value is not None else fallback.text(key)

    return _compact(
        {
            "Url": pick("url"),
            "Title": pick("title"),
            "Path": pick("path"),
            "Referrer": pick("referrer"),
            "Categories": read.texts("categories", "category"),
            "Brands": read.texts("brands", "brand"),
        }
    )


def _track(message: SegmentMessage, email: str | None, received_at: datetime) -> Mapping:
    name = message.get("event", "")
    seg_event = seg_event_for(name)
    if seg_event is None:
        return Mapping(None, None, None, reason=f"Seg has no event for {name!r}.")
    props = message.get("properties") or {}
    read = Reader(props, "properties")
    body: JSONObject
    if seg_event is SegEvent.ORDER_PLACED:
        body = _order(read)
    else:
        body = {"Event": seg_event.value, **_page_fields(message, read)}
        if seg_event is SegEvent.RANGE_VIEW:
            body |= _compact({"Category": read.text("category")})
        elif seg_event is SegEvent.PRODUCT_VIEW:
            body["Product"] = _product_line(read)
        else:
            body["OrderLines"] = [_product_line(read) | {"Added": True}]
    payload = _common(message, email, received_at) | body
    warnings = time_warnings(message, received_at) + read.warnings
    return Mapping(ACTION_FOR_EVENT[seg_event], seg_event, payload, tuple(warnings))


def _order(read: Reader) -> JSONObject:
    lines: list[JSONObject] = []
    products = read.listed("products")
    if isinstance(products, list):
        for index, product in enumerate(products):
            if isinstance(product, dict):
                line = Reader(product, f"{read.where}.products[{index}]", read.warnings)
                lines.append(_product_line(line))
            else:
                read.warn(f"products[{index}]", product, "is not an object")
    elif products is not None:
        read.warn("products", products, "is not a list")
    return _compact(
        {
            "Id": read.text("orderId", "order_id", "id"),
            "Total": read.number("total"),
            "Revenue": read.number("revenue"),
            "DeliveryRevenue": read.number("shipping"),
            "Tax": read.number("tax"),
            "Discount": read.number("discount"),
            "Coupon": read.text("coupon"),
            "Currency": read.text("currency"),
            "Repeat": read.flag("repeat"),
            "DeliveryMethod": read.text("delivery_method", "deliveryMethod"),
            "Profit": read.number("_p"),
            "Categories": read.texts("categories", "category"),
            "Brands": read.texts("brands", "brand"),
            "OrderLines": lines,
        }
    )


def _product_line(read: Reader) -> JSONObject:
    # 1 when the shop sent none; an unreadable one is left out, as any value.
    quantity = 1 if read.raw("quantity") is None else read.number("quantity")
    return _compact(
        {
            "Id": read.text("id", "product_id", "productId"),
            "Sku": read.text("sku"),
            "Name": read.text("name"),
            "Price": read.number("price"),
            "OriginalPrice": read.number("original_price", "originalPrice"),
            "Quantity": quantity,
            "ImageUrl": read.text("image_url", "imageUrl"),
            "VariantName": read.text("variant_name", "variantName", "variant"),
            "Url": read.text("url"),
            "Categories": read.texts("categories", "category"),
            "Brands": read.texts("brands", "brand"),
        }
    )


def _page(message: SegmentMessage, email: str | None, received_at: datetime) -> Mapping:
    props = message.get("properties") or {}
    read = Reader(props, "properties")
    body = {"Event": SegEvent.PAGE_VIEW.value} | _page_fields(message, read)
    body |= _compact(
        {
            "Name": message.get("name") or read.text("name"),
            "Category": message.get("category") or read.text("category"),
        }
    )
    payload = _common(message, email, received_at) | body
    warnings = time_warnings(message, received_at) + read.warnings
    return Mapping(SegAction.EVENTS, SegEvent.PAGE_VIEW, payload, tuple(warnings))


def _alias(message: SegmentMessage, received_at: datetime) -> Mapping:
    previous = normalize_email(message.get("previousId"))
    new = normalize_email(message.get("userId"))
    if previous is None or new is None:
        return Mapping(None, None, None, reason="Seg only aliases one email to another.")
    if previous == new:
        return Mapping(None, None, None, reason="The alias joins an email to itself.")
    payload = _common(message, new, received_at) | {"PreviousEmail": previous, "Email": new}
    return Mapping(SegAction.ALIAS, None, payload, tuple(time_warnings(message, received_at)))


def order_id(message: SegmentMessage) -> str:
    """The order id a track call names, for search; empty when there is none."""
    props = message.get("properties") or {}
    value = props.get("orderId") or props.get("order_id")
    if value is None and message["type"] == "track" and seg_event_for(message.get("event", "")):
        value = (
            props.get("id") if seg_event_for(message["event"]) is SegEvent.ORDER_PLACED else None
        )
    return str(value)[:255] if isinstance(value, str | int) and not isinstance(value, bool) else ""


def map_or_ignore(message: SegmentMessage, email: str | None, now: datetime) -> Mapping:
    """``map_message``, or, should it ever raise, an ignored event that says why.

    A message that passed validation is stored whatever its values: a mapping
    error is kept and shown on the event, never a 500 that costs the batch.
    """
    try:
        return map_message(message, email, now)
    except Exception as error:
        logger.exception("Could not map message %s; stored as ignored.", message["messageId"])
        reason = f"Could not be mapped ({type(error).__name__}: {error}); kept as sent."
        return Mapping(None, None, None, reason=reason[:500])
