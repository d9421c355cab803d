"""The app's Prometheus counters and histograms, counted where things happen.

Each process counts its own (a gunicorn worker its ingests, a Celery pool
process its attempts). With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment
before the process starts, prometheus-client keeps each process's values in a
file there, and ``/metrics`` adds up every file (``operating.exposition``);
``process_gone`` is called when a process exits (gunicorn's ``child_exit``
hook, Celery's ``worker_process_shutdown``). Without it, each process counts
for itself alone: right for one process, wrong for several.

Labels are closed sets, never an id or an email: the call type (identify,
track, page, alias), the key kind (server, browser, api), who withheld an
event (WITHHELD_BY's keys), and a delivery attempt's verdict.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import Counter, Histogram
from prometheus_client import multiprocess as _multiprocess

from .core import WITHHELD_BY, Verdict

RECEIVED = Counter(
    "seg_events_received",
    "Calls stored, by call type and by the kind of key that sent them "
    "(server: SEG_WRITE_KEYS, browser: SEG_BROWSER_WRITE_KEYS, api: integrations.api).",
    ["call_type", "key_kind"],
)
WITHHELD = Counter(
    "seg_events_withheld",
    "Calls stored as withheld and never sent, by who withheld them (consent: the "
    "visitor's consent; integrations: the call's integrations object).",
    ["reason"],
)
DELIVERIES = Counter(
    "seg_delivery_attempts",
    "Posts to Seg, by outcome (delivered; retry: a transient answer, tried again later; "
    "failed: refused, or retries ran out).",
    ["outcome"],
)
# Seconds: most events go out within a second; retries and pauses stretch it to hours.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400)
LATENCY = Histogram(
    "seg_delivery_latency_seconds",
    "Seconds from an event's receipt to its delivery to Seg, time held for identity included.",
    buckets=LATENCY_BUCKETS,
)
SINCE_DUE = Histogram(
    "seg_delivery_since_due_seconds",
    "Seconds from the moment an event became due (its receipt, or its release from hold, "
    "retry, replay or unsuppress) to its delivery to Seg: the delivery path's own time.",
    buckets=LATENCY_BUCKETS,
)
ATTEMPT = Histogram(
    "seg_delivery_attempt_seconds",
    "Seconds one post to Seg took, from connecting to its answer (or its error).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30),
)

CALL_TYPES = ("identify", "track", "page", "alias")
KEY_KINDS = ("server", "browser", "api", "backfill")


def received(rows: Iterable[tuple[str, str, str]], key_kind: str) -> None:
    """Count stored calls: ``rows`` as (call type, status, status reason), ``key_kind``
    one of KEY_KINDS. A withheld row is counted by who withheld it, too."""
    for call_type, status, reason in rows:
        RECEIVED.labels(call_type=call_type, key_kind=key_kind).inc()
        if status == "withheld":
            WITHHELD.labels(reason=withheld_by(reason)).inc()


def withheld_by(reason: str) -> str:
    """Who withheld an event, from its status reason: a key of WITHHELD_BY, else "other"."""
    for key, prefix in WITHHELD_BY.items():
        if reason.startswith(prefix):
            return key
    return "other"


def attempted(
    verdict: Verdict,
    duration_ms: float,
    received_at: datetime | None,
    due_since: datetime | None,
    now: datetime,
) -> None:
    """Count one recorded post: its verdict, how long it took (``duration_ms``), and for a
    delivery the time to ``now`` from ``received_at`` and from ``due_since`` (when it
    last became due: ``lifecycle.due_since``)."""
    DELIVERIES.labels(outcome=verdict.value).inc()
    ATTEMPT.observe(max(duration_ms, 0.0) / 1000)
    if verdict is not Verdict.DELIVERED:
        return
    for histogram, start in ((LATENCY, received_at), (SINCE_DUE, due_since)):
        if start is not None:
            histogram.observe(max((now - start).total_seconds(), 0.0))


def multiprocess_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR, prometheus-client's own variable, if set."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def process_gone(pid: int) -> None:
    """A process that counted has exited: let prometheus-client tidy its live files."""
    if multiprocess_dir():
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def prime() -> None:
    """Make every label set exist at zero, so a rate over a series that has just begun
    counts its first events, and dashboards show 0 rather than nothing."""
    for call_type in CALL_TYPES:
        for key_kind in KEY_KINDS:
            RECEIVED.labels(call_type=call_type, key_kind=key_kind)
    for reason in (*WITHHELD_BY, "other"):
        WITHHELD.labels(reason=reason)
    for verdict in Verdict:
        DELIVERIES.labels(outcome=verdict.value)
