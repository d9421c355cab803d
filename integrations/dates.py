"""How the app writes a moment for its operators: one format, the time zone named."""

from __future__ import annotations

from datetime import datetime

from django.utils import dateformat, timezone

# 2026-11-29 14:01:34 UTC: sortable, unambiguous, and the same on every page.
FORMAT = "Y-m-d H:i:s T"


def shown(value: datetime) -> str:
    """``value`` (aware) in the current time zone, written as FORMAT."""
    return dateformat.format(timezone.localtime(value), FORMAT)
