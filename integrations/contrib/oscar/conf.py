"""The Oscar integration's settings, read through one function when they are used."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from ...exceptions import SegConfigurationError

# The receivers, by the name of the signal each listens to.
RECEIVERS = (
    "product_viewed",
    "basket_addition",
    "order_placed",
    "user_registered",
    "user_logged_in",
)

DEFAULTS: dict[str, Any] = {
    # The receivers that send; leave one out to turn it off.
    "SEG_OSCAR_SIGNALS": RECEIVERS,
    # The product attribute (its code) that holds the brand; None sends no brand.
    "SEG_OSCAR_BRAND_ATTRIBUTE": "brand",
}


def get_setting(name: str) -> Any:
    """Return setting ``name`` from Django settings, else its default.

    Raises SegConfigurationError for a name that is not one of DEFAULTS.
    """
    if name not in DEFAULTS:
        raise SegConfigurationError(f"Unknown Seg Oscar setting {name}.")
    return getattr(settings, name, DEFAULTS[name])


def enabled(receiver: str) -> bool:
    """Whether ``receiver`` (one of RECEIVERS) is in SEG_OSCAR_SIGNALS."""
    return receiver in set(get_setting("SEG_OSCAR_SIGNALS") or ())


def brand_attribute() -> str | None:
    """The code of the product attribute read as the brand, or None for none."""
    return get_setting("SEG_OSCAR_BRAND_ATTRIBUTE") or None
