"""A product of Oscar's catalogue as Segment's e-commerce v2 product properties.

Money goes out as the Decimal's exact text (``"19.99"``): the app reads a
numeric string as a number without rounding (docs/seg-contract.md, Values),
whereas a float would round first and a Decimal cannot be stored as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.sites.models import Site
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.urls import NoReverseMatch

from ...core import JSONObject
from . import conf
from .visitor import page_url


def money(amount: Decimal | int | None) -> str | None:
    """An amount as its exact decimal text, never in exponent form; None stays None."""
    if amount is None:
        return None
    return format(Decimal(amount), "f")


def absolute(url: str, request: HttpRequest | None) -> str | None:
    """``url`` made absolute: against the request's host, else the current Site (https).

    An absolute ``url`` comes back as it is. None when neither can name a
    host: a request that cannot (see ``visitor.page_url``), and no current
    Site, as on a shop of several Sites without SITE_ID outside a request.
    """
    if "://" in url or url.startswith("//"):
        return url
    if request is not None and (found := page_url(request, url)) is not None:
        return found
    try:
        domain = Site.objects.get_current().domain
    except (ImproperlyConfigured, Site.DoesNotExist):
        return None
    return f"https://{domain}{url}"


def categories(product: Any) -> list[str]:
    """The names of the product's browsable categories (a child's are its parent's)."""
    return [str(category.name) for category in product.get_categories()]


def brands(product: Any) -> list[str]:
    """The product's brands: the value of SEG_OSCAR_BRAND_ATTRIBUTE, on it or its parent.

    A text or option attribute gives one brand, a multi-option one each of its
    options; no attribute (or the setting None) gives none.
    """
    code = conf.brand_attribute()
    if code is None:
        return []
    for owner in (product, product.parent) if product.parent_id else (product,):
        found = owner.attribute_values.filter(attribute__code=code).first()
        if found is not None and found.value not in (None, ""):
            value = found.value
            items = value if _many(value) else [value]
            return [str(item) for item in items if str(item).strip()]
    return []


def _many(value: object) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, str | bytes)


def image_url(product: Any, request: HttpRequest | None) -> str | None:
    """The absolute URL of the product's primary image; None when it has none, or no host."""
    image = product.primary_image()
    if isinstance(image, dict) or not getattr(image, "original", None):
        return None  # Oscar's "image not found" placeholder
    return absolute(image.original.url, request)


def product_properties(product: Any, request: HttpRequest | None, offer: Offer) -> JSONObject:
    """Segment's product properties for ``product`` at ``offer``'s unit price.

    ``product_id`` is the product's pk as text, ``sku`` the partner's SKU
    (else the UPC); ``category``
    and ``brand`` are the first of ``categories`` and ``brands``. Keys
    without a value are left out.
    """
    found: JSONObject = {
        "product_id": str(product.pk),
        "sku": offer.sku or product.upc or None,
        "name": str(product.get_title()),
        "price": money(offer.price),
        "currency": offer.currency,
        **product_page(product, request),
    }
    return {key: value for key, value in found.items() if value is not None}


def product_url(product: Any, request: HttpRequest | None) -> str | None:
    """The absolute URL of ``product``'s page; None when it cannot be built.

    Oscar reverses ``catalogue:detail``, which a shop may not route (one
    serving its catalogue only through an API).
    """
    try:
        path = product.get_absolute_url()
    except NoReverseMatch:
        return None
    return absolute(path, request)


def product_page(product: Any, request: HttpRequest | None) -> JSONObject:
    """``product``'s ``url``, ``image_url``, ``categories`` and ``brands`` (``category`` and
    ``brand``: the first of each); None where it has none, or a URL cannot be built."""
    names, makers = categories(product), brands(product)
    return {
        "url": product_url(product, request),
        "image_url": image_url(product, request),
        "category": names[0] if names else None,
        "categories": names or None,
        "brand": makers[0] if makers else None,
        "brands": makers or None,
    }


@dataclass(frozen=True)
class Offer:
    """What the shop offers ``product`` at: unit price, currency and the partner's SKU."""

    price: Decimal | None = None
    currency: str | None = None
    sku: str | None = None


def offer_for(product: Any, request: HttpRequest | None) -> Offer:
    """The offer Oscar's pricing strategy makes ``request`` (tax included when known).

    Read through ``request.strategy``, which Oscar's BasketMiddleware sets; an
    empty Offer without one, and no price where the strategy has none.
    """
    strategy = getattr(request, "strategy", None)
    if strategy is None:
        return Offer()
    if product.is_parent:
        info = strategy.fetch_for_parent(product)
    else:
        info = strategy.fetch_for_product(product)
    record = getattr(info, "stockrecord", None)
    sku = getattr(record, "partner_sku", None) or None
    price = info.price
    if not price.exists:
        return Offer(sku=sku)
    amount = price.incl_tax if price.is_tax_known else price.excl_tax
    return Offer(amount, price.currency, sku)
