"""The three ways to get a shop's events to Seg, each as its users run it: the call and the processes.

- ``naive``: a row and one Celery task per event (benchmarks/peers/naive/).
- ``outbox``: django-celery-outbox's OutboxCelery, its relay and a task (benchmarks/peers/outbox/).
- ``app``: this project: ``integrations.api`` in the transaction; its worker with beat (the sweeper).

Every peer gets 4 prefork processes on the same Redis, PostgreSQL and sandbox. With
PEER_RECOVERY (seconds) in the environment, each one's recovery timers are that short
(broker.recovery_options for the peers' Celery apps).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks import harness
from benchmarks.calls import record as app_record
from benchmarks.peers.naive import tasks as naive
from benchmarks.peers.outbox import tasks as outbox

CONCURRENCY = 4


def celery_worker(
    app: str, queue: str, name: str, environ: dict[str, str], *extra: str
) -> harness.Proc:
    command = [sys.executable, "-m", "celery", "-A", app, "worker", "--loglevel", "WARNING"]
    command += ["--concurrency", str(CONCURRENCY), "-Q", queue, "--hostname", f"{name}@%h"]
    command += ["--without-gossip", "--without-mingle", *extra]
    return harness.Proc(name, command, environ)


Start = Callable[[dict[str, str]], harness.Proc]


@dataclass(frozen=True)
class Peer:
    key: str
    label: str
    record: Callable[[dict[str, Any]], None]
    # The peer's long-running processes, each started from the run's environment;
    # the first is the Celery worker.
    processes: tuple[Start, ...]


def _naive_worker(environ: dict[str, str]) -> harness.Proc:
    return celery_worker("benchmarks.peers.naive.celery", "naive", "naive", environ)


def _outbox_worker(environ: dict[str, str]) -> harness.Proc:
    return celery_worker("benchmarks.peers.outbox.celery", "outbox", "outbox", environ)


def _outbox_relay(environ: dict[str, str]) -> harness.Proc:
    command = [sys.executable, "manage.py", "celery_outbox_relay"]
    if recovery := environ.get("PEER_RECOVERY"):
        command += ["--broker-outage-cooldown", recovery]
    return harness.Proc("outbox-relay", command, environ)


def _app_worker(environ: dict[str, str]) -> harness.Proc:
    own = dict(environ, DJANGO_SETTINGS_MODULE="segproject.settings")
    if recovery := environ.get("PEER_RECOVERY"):
        own |= {
            "SEG_LEASE": recovery,
            "SEG_REQUEUE_AFTER": recovery,
            "SEG_SWEEP_INTERVAL": recovery,
            # The lease must outlast a request and leave room for a batch (README,
            # Configuration); the sandbox answers at once, so short timeouts lose nothing.
            "SEG_CONNECT_TIMEOUT": "1",
            "SEG_READ_TIMEOUT": "2",
        }
    schedule = str(harness.ROOT / ".run" / "bench-peers-beat")
    return celery_worker("segproject", "seg", "app", own, "--beat", "--schedule", schedule)


PEERS = (
    Peer("naive", "naive Celery task", naive.record, (_naive_worker,)),
    Peer("outbox", "django-celery-outbox", outbox.record, (_outbox_worker, _outbox_relay)),
    Peer("app", "this project", app_record, (_app_worker,)),
)
