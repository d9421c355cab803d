"""What operators read: the dashboard's figures (``metrics``) and ``charts``, an event's
``timeline``, and how a moment is written (``dates``)."""

from .charts import bars, stacked
from .dates import ago, shown
from .metrics import (
    WITHHELD_BY,
    WebsiteFigures,
    by_website,
    counts_by_window,
    delivered_per_minute,
    held_summary,
    latency_percentiles,
    oldest_pending,
    top_errors,
    withheld_by_reason,
)
from .timeline import history

__all__ = [
    "WITHHELD_BY",
    "WebsiteFigures",
    "ago",
    "bars",
    "by_website",
    "counts_by_window",
    "delivered_per_minute",
    "held_summary",
    "history",
    "latency_percentiles",
    "oldest_pending",
    "shown",
    "stacked",
    "top_errors",
    "withheld_by_reason",
]
