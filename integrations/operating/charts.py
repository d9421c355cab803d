"""Small inline SVG charts for the dashboard: no script, no third-party assets.

Each chart fills its box's width: the bars are drawn in a nested SVG stretched to
it, the text outside that, so the text keeps its size. Colours come from
admin.css, by status class, as for the badges.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from . import dates

# Where the per-minute chart's axis labels sit: a fraction of its width, and how
# the text anchors there.
TICKS = ((0.0, "start"), (0.25, "middle"), (0.5, "middle"), (0.75, "middle"), (1.0, "end"))


def _svg(height: int, label: str, body: str) -> SafeString:
    # Every number is formatted here and every text passes through escape().
    return mark_safe(  # noqa: S308
        f'<svg class="seg-chart" width="100%" height="{height}" role="img" '
        f'aria-label="{escape(label)}">{body}</svg>'
    )


def _stretched(y: int, height: int, units_wide: float, units_high: float, body: str) -> str:
    """A plot area ``height`` px high across the chart, ``units_wide`` by ``units_high``."""
    return (
        f'<svg y="{y}" width="100%" height="{height}" viewBox="0 0 {units_wide:g} {units_high:g}" '
        f'preserveAspectRatio="none" shape-rendering="crispEdges">{body}</svg>'
    )


def bars(series: Sequence[tuple[datetime, int]], height: int = 140) -> SafeString:
    """A bar per minute, oldest first, each with its minute and count in a tooltip;
    the scale above, and below an axis from "-N min" (N the series' length) to "now"."""
    minutes = max(len(series), 1)
    top = max((n for _, n in series), default=0) or 1
    plot_y, plot_height = 16, height - 16 - 18
    rects = "".join(
        f'<rect x="{i + 0.1:.1f}" y="{top - n}" width="0.8" height="{n}" '
        f'class="seg-status-delivered"><title>{escape(dates.shown(t))}: {n} delivered</title>'
        "</rect>"
        for i, (t, n) in enumerate(series)
        if n
    )
    baseline = plot_y + plot_height
    labels = "".join(
        f'<text x="{share:.0%}" y="{height - 4}" text-anchor="{anchor}">'
        f"{'now' if share == 1 else f'-{round(minutes * (1 - share))} min'}</text>"
        for share, anchor in TICKS
    )
    body = (
        f'<text x="0" y="11">max {top}/min</text>'
        + _stretched(plot_y, plot_height, minutes, top, rects)
        + f'<line class="seg-axis" x1="0" x2="100%" y1="{baseline}" y2="{baseline}"></line>'
        + labels
    )
    return _svg(height, "Deliveries per minute", body)


def stacked(counts: dict[str, int], height: int = 22) -> SafeString:
    """One bar across the chart's width, split by status, each part with a tooltip."""
    total = sum(counts.values())
    x, rects = 0, []
    for status, n in counts.items():
        if not n:
            continue
        rects.append(
            f'<rect x="{x}" y="0" width="{n}" height="1" class="seg-status-{escape(status)}">'
            f"<title>{escape(status)}: {n}</title></rect>"
        )
        x += n
    return _svg(height, "Events by status", _stretched(0, height, total or 1, 1, "".join(rects)))
