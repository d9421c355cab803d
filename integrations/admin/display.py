"""How the admin shows a value: status badges, JSON, durations."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString


def pretty_json(value: Any) -> SafeString:
    """JSON indented for reading; format_html escapes it."""
    return format_html(
        '<pre class="seg-json">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False)
    )


def status_badge(status: str, label: str | None = None) -> SafeString:
    """The status as a coloured label; admin.css holds the colours."""
    return format_html('<span class="seg-badge seg-status-{}">{}</span>', status, label or status)


def seconds(value: timedelta | None) -> str:
    """A duration as an operator reads it: '1.2 s', '3 min', '2.5 h'."""
    if value is None:
        return "none"
    total = value.total_seconds()
    if total < 120:
        return f"{total:.1f} s"
    if total < 7200:
        return f"{total / 60:.0f} min"
    return f"{total / 3600:.1f} h"
