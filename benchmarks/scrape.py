"""What one Prometheus scrape of /metrics costs at a million rows: the state read from the
database and Redis, and the counters of many processes added up.

Three cases on the same million events (``fill``: 90% delivered, 10% failed, an
attempt each):
a calm day (1,000 due), a backlog (100,000 due and 50,000 held), and the calm day
again with the counter files of BENCH_SCRAPE_PROCESSES (100) processes to add up,
as a host that ran many gunicorn and Celery processes since its last restart has.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from benchmarks.harness import Row, median
from integrations.models import Event, Status

TOKEN = "bench-scrape-token"  # noqa: S105 (the benchmark's own)
REPEAT = 15
TARGET_MS = 250.0

# Run in a child with PROMETHEUS_MULTIPROC_DIR set: forks ``count`` processes that each
# count what a busy worker does, then exit, leaving their files behind.
COUNTING = """
import os, sys
from integrations import instruments
from integrations.core import Verdict
from datetime import datetime, timezone
now = datetime.now(timezone.utc)
for _ in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        instruments.prime()
        instruments.received([("track", "pending", "")] * 50, "server")
        for _ in range(50):
            instruments.attempted(Verdict.DELIVERED, 42.0, now, now, now)
        os._exit(0)
    os.waitpid(pid, 0)
"""


def scrape_ms(client: Client) -> tuple[float, int, int]:
    """Median milliseconds of a scrape, its query count, and its size in bytes."""

    def once() -> tuple[float, int, int]:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            ms = (time.perf_counter() - started) * 1000
        assert answer.status_code == 200, answer.content[:200]
        return ms, len(queries), len(answer.content)

    once()
    runs = [once() for _ in range(REPEAT)]
    return median([ms for ms, _, _ in runs]), runs[-1][1], runs[-1][2]


def counter_files(directory: Path, processes: int) -> None:
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(directory))
    subprocess.run(
        [sys.executable, "-c", COUNTING, str(processes)],
        env=env,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )


def row(label: str, ms: float, queries: int, size: int, **extra: Any) -> Row:
    result = Row(
        label,
        ms,
        "ms",
        target=f"< {TARGET_MS:.0f} ms",
        met=ms < TARGET_MS,
        note=f"{queries} queries, {size:,} bytes; median of {REPEAT}",
    )
    result.extra.update(extra)
    return result


FILL = """
INSERT INTO integrations_event (message_id, source, call_type, name, user_id, anonymous_id, email,
  order_id, action, seg_event, status, ingest_status, status_reason, message, payload, warnings,
  attempts, tries, next_attempt_at, enqueued_at, first_attempt_at, last_error, timestamp,
  received_at, delivered_at, updated_at)
SELECT 'scrape-' || g, 'server', 'track', 'Order Completed', 'user-' || mod(g, 50000), '',
  'customer' || mod(g, 50000) || '@example.com', 'order-' || g, 'order-placed', 'OrderPlaced',
  CASE WHEN mod(g, 10) = 0 THEN 'failed' ELSE 'delivered' END, 'pending', '',
  jsonb_build_object('type', 'track', 'event', 'Order Completed'),
  jsonb_build_object('Id', 'order-' || g), '[]'::jsonb, 1, 1, NULL, NULL,
  now() - (g || ' seconds')::interval, '', now() - (g || ' seconds')::interval,
  now() - (g || ' seconds')::interval,
  CASE WHEN mod(g, 10) = 0 THEN NULL ELSE now() - (g || ' seconds')::interval END,
  now() - (g || ' seconds')::interval
FROM generate_series(1, %s) AS g;
INSERT INTO integrations_attempt (event_id, number, started_at, duration_ms, url, status_code,
  response_excerpt, error_class, error, verdict, retry_at)
SELECT id, 1, received_at, 12.5, 'https://tracker.segapp.com/x', 200, '{}', '', '',
  'delivered', NULL
FROM integrations_event;
"""


def fill(total: int) -> None:
    """``total`` events, 90% delivered and 10% failed, each with one attempt, by SQL."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE integrations_event CASCADE")
        cursor.execute(FILL, [total])
        cursor.execute("ANALYZE integrations_event; ANALYZE integrations_attempt")


def move(status: str, first: int, last: int, due: bool) -> None:
    """Make events ``first``..``last`` (by id) ``status``, due now or not due."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE integrations_event SET status = %s, next_attempt_at = "
            "CASE WHEN %s THEN now() ELSE NULL END WHERE id BETWEEN %s AND %s",
            [status, due, first, last],
        )
        cursor.execute("ANALYZE integrations_event")


def bench(total: int) -> list[Row]:
    started = time.perf_counter()
    fill(total)
    fill_s = round(time.perf_counter() - started, 1)
    client = Client()
    first = Event.objects.order_by("pk").values_list("pk", flat=True)[0]
    rows: list[Row] = []
    with override_settings(SEG_METRICS_TOKEN=TOKEN):
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        move(Status.PENDING, first, first + 999, due=True)
        ms, queries, size = scrape_ms(client)
        rows.append(row(f"scrape /metrics ({total:,} rows, 1,000 due)", ms, queries, size))

        tenth = total // 10
        move(Status.PENDING, first, first + tenth - 1, due=True)
        move(Status.HELD, first + tenth, first + tenth + tenth // 2 - 1, due=False)
        due_n = Event.objects.filter(status=Status.PENDING).count()
        held_n = Event.objects.filter(status=Status.HELD).count()
        ms, queries, size = scrape_ms(client)
        label = f"scrape /metrics ({total:,} rows, {due_n:,} due, {held_n:,} held)"
        rows.append(row(label, ms, queries, size))

        processes = int(os.environ.get("BENCH_SCRAPE_PROCESSES", "100"))
        with tempfile.TemporaryDirectory() as directory:
            counter_files(Path(directory), processes)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
            try:
                ms, queries, size = scrape_ms(client)
            finally:
                os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            files = len(os.listdir(directory))
        label = f"scrape /metrics, the above plus {processes} processes' counters"
        rows.append(row(label, ms, queries, size, files=files))
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE integrations_event CASCADE")
    for each in rows:
        each.extra["fill_seconds"] = fill_s
    return rows
