"""Small inline SVG charts for the dashboard: no script, no third-party assets.

Colours come from admin.css, by status class, as for the badges.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from . import dates


def _svg(width: int, height: int, label: str, body: str) -> SafeString:
    # Every number is formatted here and every text passes through escape().
    return mark_safe(  # noqa: S308
        f'<svg class="seg-chart" viewBox="0 0 {width} {height}" width="100%" height="{height}" '
        f'role="img" aria-label="{escape(label)}">{body}</svg>'
    )


def bars(series: Sequence[tuple[datetime, int]], width: int = 720, height: int = 120) -> SafeString:
    """A bar per minute, with its count and time in a tooltip."""
    top = max((n for _, n in series), default=0) or 1
    step = width / max(len(series), 1)
    usable = height - 14
    rects = "".join(
        f'<rect x="{i * step:.1f}" y="{height - n / top * usable:.1f}" '
        f'width="{max(step - 1, 1):.1f}" height="{n / top * usable:.1f}" '
        'class="seg-status-delivered">'
        f"<title>{escape(dates.shown(t))}: {n} delivered</title></rect>"
        for i, (t, n) in enumerate(series)
    )
    axis = f'<text x="2" y="11" font-size="11">max {top}/min</text>'
    return _svg(width, height, "Deliveries per minute", rects + axis)


def stacked(counts: dict[str, int], width: int = 720, height: int = 22) -> SafeString:
    """One bar split by status."""
    total = sum(counts.values())
    x, rects = 0.0, []
    for status, n in counts.items():
        if not n:
            continue
        w = n / total * width
        rects.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" '
            f'class="seg-status-{escape(status)}">'
            f"<title>{escape(status)}: {n}</title></rect>"
        )
        x += w
    return _svg(width, height, "Events by status", "".join(rects))
