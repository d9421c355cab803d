"""How the app writes a moment for its operators: one format, the time zone named,
and how long ago it was."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import dateformat, timezone
from django.utils.timesince import timesince

# 2026-11-29 14:01:34 UTC: sortable, unambiguous, and the same on every page.
FORMAT = "Y-m-d H:i:s T"


def shown(value: datetime) -> str:
    """``value`` (aware) in the current time zone, written as FORMAT."""
    return dateformat.format(timezone.localtime(value), FORMAT)


def ago(value: datetime, now: datetime | None = None) -> str:
    """How long before ``now`` ``value`` was: "3 minutes ago", "just now" under a minute
    (and for a moment a skewed clock puts ahead)."""
    now = now or timezone.now()
    if now - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, now)} ago"
