"""Is this install ready to take and deliver events? The database, the broker, a live worker.

One piece of logic for the readiness endpoint (``integrations.probes``) and
``manage.py seg_health``, as ``health`` is for the dashboard and ``W005``:

* ``database``: a ``SELECT 1`` on the default connection. Without it no call
  can be stored, and the ingestion endpoint answers 503.
* ``broker``: a connection to Celery's broker, pinged. Without it calls are
  still stored; their wake-ups wait for the sweeper (SEG_PUBLISH_PAUSE).
* ``worker``: some worker answers Celery's ``ping`` within PING_TIMEOUT, and
  delivery is not stalled (``health.delivery_stall``, the rule of ``W005``).
  Without one, calls are stored and wait.

Which of them a load balancer should act on is the caller's choice
(SEG_READY_REQUIRES, ``seg_health --require``): only the database stops the
shop's calls from being stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from celery import current_app
from django.db import DatabaseError, connection
from django.utils import timezone

from .health import delivery_stall

CHECKS = ("database", "broker", "worker")
# Seconds a readiness check waits for the broker, and for a worker's answer to ping.
PING_TIMEOUT = 1


@dataclass(frozen=True)
class Probe:
    """One check's result: its name (one of CHECKS), whether it passed, and what it saw."""

    name: str
    ok: bool
    detail: str


def database() -> Probe:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        return Probe("database", False, f"{type(error).__name__}: {error}".strip()[:300])
    return Probe("database", True, f"{connection.vendor} answers")


def broker() -> Probe:
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=PING_TIMEOUT)
    except Exception as error:  # kombu raises the transport's own errors, of many kinds
        return Probe("broker", False, f"{type(error).__name__}: {error}".strip()[:300])
    return Probe("broker", True, "reachable")


def worker(broker_ok: bool = True) -> Probe:
    if not broker_ok:
        return Probe("worker", False, "not asked: the broker cannot be reached")
    try:
        replies = current_app.control.ping(timeout=PING_TIMEOUT, limit=1)
    except Exception as error:  # as broker(): the transport's errors
        return Probe("worker", False, f"{type(error).__name__}: {error}".strip()[:300])
    if not replies:
        return Probe(
            "worker",
            False,
            f"no worker answered a ping within {PING_TIMEOUT:g} s: start one "
            "(celery -A <project> worker -Q seg,seg_browser,seg_backfill)",
        )
    try:
        stall = delivery_stall(timezone.now())
    except DatabaseError:
        stall = None  # the database check says so
    if stall is not None:
        return Probe("worker", False, stall.describe())
    names = ", ".join(sorted(name for reply in replies for name in reply))
    return Probe("worker", True, f"answered: {names}")


def readiness(names: Iterable[str] = CHECKS) -> list[Probe]:
    """Run the checks named (in CHECKS' order); the worker is not asked without a broker."""
    wanted = set(names)
    probes: list[Probe] = []
    runs: dict[str, Callable[[], Probe]] = {
        "database": database,
        "broker": broker,
        "worker": lambda: worker(all(p.ok for p in probes if p.name == "broker")),
    }
    for name in CHECKS:
        if name in wanted:
            probes.append(runs[name]())
    return probes


def ready(probes: Sequence[Probe], required: Iterable[str]) -> bool:
    """Whether every required check that ran passed."""
    needed = set(required)
    return all(probe.ok for probe in probes if probe.name in needed)
