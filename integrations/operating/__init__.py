"""What operators read: the dashboard's figures (``metrics``) and ``charts``, an event's
``timeline``, how a moment is written (``dates``), and what Prometheus scrapes
(``exposition``)."""

from ..core import WITHHELD_BY
from .charts import bars, stacked
from .dates import ago, shown
from .exposition import render as exposition
from .exposition import serve_counters
from .metrics import (
    WebsiteFigures,
    by_website,
    counts_by_window,
    delivered_per_minute,
    delivery_times,
    held_summary,
    latency_percentiles,
    oldest_pending,
    percentiles,
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
    "delivery_times",
    "exposition",
    "held_summary",
    "history",
    "latency_percentiles",
    "oldest_pending",
    "percentiles",
    "serve_counters",
    "shown",
    "stacked",
    "top_errors",
    "withheld_by_reason",
]
