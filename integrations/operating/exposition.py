"""What ``/metrics`` answers: the counters every process keeps, and the state read at scrape.

Two sources, each chosen for what it measures:

* Things that happen (calls received, withheld, attempts and their outcome, the
  latency and attempt histograms) are counted in the process where they happen
  (``integrations.instruments``) in prometheus-client's multiprocess mode: each
  gunicorn worker and Celery pool process writes its own file under
  ``PROMETHEUS_MULTIPROC_DIR``, and a scrape adds them up. Counting them from
  the database at scrape time is not possible: retention deletes the rows
  (SEG_RETENTION_DAYS), so a count of rows goes down and is no counter, and a
  histogram of latencies would read every delivered row at each scrape.
* Things that are (the due backlog, how long its oldest event has been due, the
  held events, when the last attempt began, the circuit, the throttle's pause) are
  read from the database and Redis at each scrape (``StateCollector``). Gauges
  kept by the processes would be as many values as processes, stale for those
  that died, and blind to rows that no live process touched. Each is one
  indexed read (``seg_event_due``, ``seg_event_held_since``,
  ``seg_attempt_started``) and one Redis round trip. Measured at a million
  rows (``benchmarks/scrape.py``, PostgreSQL, 2 cores): 14 ms a scrape with
  1,000 events due, 150 ms with 100,000 due and 50,000 held (the counts grow
  with the rows counted, not the table), and about 1.5 ms more for each
  process file to add up (300 ms with 100 files).

A source that cannot be read gives ``seg_state_up{source=...} 0`` and no
values of its own, never a failed scrape: the counters still come through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import redis
from django.db import DatabaseError
from django.db.models import Count, Max, Min
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder, start_http_server
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from .. import conf, delivery, instruments
from ..models import Attempt, Event, Status
from .metrics import held_summary

logger = logging.getLogger(__name__)


def due_backlog(now: datetime) -> tuple[int, datetime | None]:
    """Events due at ``now`` (pending or sending, their next attempt at or before it), and
    when the longest-due of them fell due. One read of the partial index ``seg_event_due``."""
    due = Event.objects.filter(
        status__in=(Status.PENDING, Status.SENDING), next_attempt_at__lte=now
    ).aggregate(n=Count("pk"), since=Min("next_attempt_at"))
    return due["n"], due["since"]


def last_attempt_at() -> datetime | None:
    """When the newest delivery attempt began (``seg_attempt_started``), or None."""
    last: datetime | None = Attempt.objects.aggregate(last=Max("started_at"))["last"]
    return last


class StateCollector(Collector):
    """Gauges read at each scrape from the database and the throttle's Redis."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "seg_state_up",
            "1 when the scrape could read this source of state (database, redis), else 0.",
            labels=["source"],
        )
        now = timezone.now()
        try:
            yield from self._database(now)
            up.add_metric(["database"], 1)
        except DatabaseError:
            logger.warning("The database could not be read for /metrics.", exc_info=True)
            up.add_metric(["database"], 0)
        try:
            yield from self._throttle()
            up.add_metric(["redis"], 1)
        except redis.RedisError:
            logger.warning("The throttle's Redis could not be read for /metrics.", exc_info=True)
            up.add_metric(["redis"], 0)
        yield up

    def _database(self, now: datetime) -> Iterator[Metric]:
        # All read before any is yielded: a failed read gives none of them.
        count, since = due_backlog(now)
        held, _ = held_summary()
        last = last_attempt_at()
        yield _gauge("seg_due_events", "Events due for delivery now (pending or sending).", count)
        yield _gauge(
            "seg_due_oldest_seconds",
            "Seconds since the longest-due event fell due (0 when none is due).",
            (now - since).total_seconds() if since else 0.0,
        )
        yield _gauge("seg_held_events", "Events held until an identify names their email.", held)
        yield _gauge(
            "seg_last_attempt_timestamp_seconds",
            "When any worker last began a delivery attempt, in Unix seconds (0: never).",
            last.timestamp() if last else 0.0,
        )

    def _throttle(self) -> Iterator[Metric]:
        """The circuit and the pause of each Seg website (labelled by its Website Id: a
        configured, short list)."""
        websites = conf.all_websites() or ("",)
        standing = delivery.throttle_standing(websites)
        circuit = GaugeMetricFamily(
            "seg_circuit_open",
            "1 while the circuit breaker is open (Seg kept failing; SEG_BREAKER_THRESHOLD).",
            labels=["website"],
        )
        pause = GaugeMetricFamily(
            "seg_throttle_pause_seconds",
            "Seconds left of the pause Seg asked for (Retry-After), shared by every worker.",
            labels=["website"],
        )
        for website, (is_open, left) in standing.items():
            circuit.add_metric([website], int(is_open))
            pause.add_metric([website], left.total_seconds())
        yield circuit
        yield pause


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class _ThisProcess(Collector):
    """Without a multiprocess directory: this process's own counters (and its process_*)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry(state: bool = True) -> CollectorRegistry:
    """A registry for one scrape: every process's counters, and the state (``state``)."""
    instruments.prime()
    scrape = CollectorRegistry(auto_describe=False)
    if instruments.multiprocess_dir():
        MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]
    else:
        scrape.register(_ThisProcess())
    if state:
        scrape.register(StateCollector())
    return scrape


def serve_counters(bind: str) -> None:
    """Serve this host's counters alone (no state: the web's /metrics has it) over HTTP at
    ``bind`` ("host:port"), from a thread: for a Celery worker whose host runs no web
    process (SEG_WORKER_METRICS_BIND). Raises ValueError for a bind with no port."""
    host, _, port = bind.rpartition(":")
    start_http_server(int(port), host.strip("[]") or "127.0.0.1", registry(state=False))


def render(accept: str) -> tuple[bytes, str]:
    """The exposition for an ``Accept`` header: Prometheus's text format, or OpenMetrics
    when asked for. Returns (body, content type)."""
    encode, content_type = choose_encoder(accept)
    return encode(registry()), content_type
