"""Segment's routing rules: what the shop or the visitor withheld from Seg. Pure, no I/O.

Two rules, in Segment's order: consent first (Segment Consent Management,
``context.consent.categoryPreferences``), then the ``integrations`` object (as
Segment's ``facade`` library reads it: ``Facade.prototype.enabled``). A call
either rule withholds is stored and never posted (``Status.WITHHELD``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .wire import JSON

# The destination's name in the integrations object.
DESTINATION = "Seg"

# What a withheld event's reason starts with, by who withheld it (the reasons below).
WITHHELD_BY = {
    "integrations": "Withheld by the integrations object",
    "consent": "Withheld by consent",
}


def withheld(message: JSON, consent_categories: Sequence[str]) -> str | None:
    """Why ``message`` (as sent) must not reach Seg, or None when it may.

    ``consent_categories`` are the shop's consent category ids Seg belongs to
    (SEG_CONSENT_CATEGORIES); none means consent is not enforced.
    """
    if not isinstance(message, dict):
        return None
    return consent_withheld(message, consent_categories) or integrations_withheld(message)


def consent_withheld(message: dict[str, JSON], categories: Sequence[str]) -> str | None:
    """The consent rule: with ``categories`` set, an event whose context carries a
    ``consent`` object reaches Seg only if its ``categoryPreferences`` holds ``true``
    for every one of them. No consent object: not enforced. An empty (or absent)
    ``categoryPreferences`` in a consent object: every category is false."""
    if not categories:
        return None
    context = message.get("context")
    consent = context.get("consent") if isinstance(context, dict) else None
    if not isinstance(consent, dict):
        return None
    preferences = consent.get("categoryPreferences")
    if not isinstance(preferences, dict):
        preferences = {}
    refused = [category for category in categories if preferences.get(category) is not True]
    if not refused:
        return None
    return (
        f"Withheld by consent: the visitor gave no consent to {', '.join(refused)} "
        "(context.consent.categoryPreferences), which Seg needs (SEG_CONSENT_CATEGORIES)."
    )


def integrations_withheld(message: dict[str, JSON]) -> str | None:
    """The integrations object: ``All`` (any case; true by default) turns every
    destination on or off, and ``Seg`` (any case) overrides it for Seg: a boolean as
    given, any other value (a settings object) as on."""
    integrations = message.get("integrations")
    if not isinstance(integrations, dict):
        return None
    everything, seg = _flag(integrations, "All"), _entry(integrations, DESTINATION)
    if seg is not None:
        enabled = seg if isinstance(seg, bool) else True
        if not enabled:
            return f'Withheld by the integrations object: "{DESTINATION}" is false.'
        return None
    if everything is False:
        return 'Withheld by the integrations object: "All" is false and Seg is not named.'
    return None


def _entry(integrations: dict[str, JSON], name: str) -> JSON | None:
    """The value under ``name``, matched exactly first, then in any case."""
    if name in integrations:
        return integrations[name]
    for key, value in integrations.items():
        if key.lower() == name.lower():
            return value
    return None


def _flag(integrations: dict[str, JSON], name: str) -> bool | None:
    value = _entry(integrations, name)
    return value if isinstance(value, bool) else None
