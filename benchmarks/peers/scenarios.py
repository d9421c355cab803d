"""Measure each peer the same way, one after the other, in one run.

For each peer (peers.py), on the same sandbox, Redis and PostgreSQL, with the same
events (benchmarks.run.message), 4 shop threads making them and 4 worker processes:

1. the shop's one-row transaction, p50, with and without the call (no worker running);
2. events/s from the first transaction to the sandbox holding every event;
3. RSS of every process the peer runs (worker and its pool, plus beat or the relay);
4. the worker SIGKILLed (pool and all) mid-run and started again at once;
5. Redis stopped during ingest for DOWN seconds (saving its data, as a stock
   redis.conf does on SIGTERM), started again; a worker that exited is started again.

Lost and duplicate events are counted at the sandbox by the payload's MessageId (the
Segment messageId every peer also sends as Idempotency-Key). Each peer runs with its
defaults, but for the faults, where its recovery timers are RECOVERY seconds alike
(peers.py, broker.recovery_options), so that what a fault strands comes back within
the run rather than minutes or an hour later.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import current_app
from django.contrib.auth.models import Group
from django.db import connection, transaction

from benchmarks import harness
from benchmarks.harness import Row, median
from benchmarks.peers.broker import Broker
from benchmarks.peers.peers import CONCURRENCY, PEERS, Peer
from benchmarks.peers.sandbox import arrivals, clear, last_arrival, received, settle
from benchmarks.peers.shop import THREADS, Commit, committed, events, ingest, shop_transaction

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
RECOVERY = 10
DOWN = 5.0
TABLES = (
    "integrations_attempt, integrations_statuschange, integrations_event, integrations_identity, "
    "integrations_alias, peers_naive_segevent, celery_outbox, celery_outbox_dead_letter"
)


def say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def n(count: int) -> int:
    return max(int(count * SCALE), 40)


# --- the peer's processes ------------------------------------------------------------------
@dataclass
class Running:
    """A peer's processes, started and ready; restarted one by one as a supervisor would."""

    peer: Peer
    environ: dict[str, str]
    procs: list[harness.Proc] = field(default_factory=list)
    restarts: int = 0

    def __post_init__(self) -> None:
        self.procs = [start(self.environ) for start in self.peer.processes]
        self.ready()

    def ready(self) -> None:
        """Wait until a worker answers a ping: its pool is up and it consumes."""
        harness.wait_for(_pings, timeout=90, every=0.2)

    def kill_worker(self) -> None:
        """SIGKILL the worker's whole process group, then start a new one at once."""
        worker = self.procs[0]
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(10)
        self.procs[0] = self.peer.processes[0](self.environ)
        self.ready()

    def revive(self) -> None:
        """Start again every process that has exited."""
        for i, proc in enumerate(self.procs):
            if proc.proc.poll() is not None:
                self.procs[i] = self.peer.processes[i](self.environ)
                self.restarts += 1
        self.ready()

    def rss_mib(self) -> float:
        pids = [pid for proc in self.procs for pid in (proc.proc.pid, *proc.children())]
        return harness.rss_kb(pids) / 1024

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def _pings() -> bool:
    try:
        return bool(current_app.control.ping(timeout=0.5))
    except (redis.RedisError, OSError):  # a connection Redis closed as it stopped
        return False


def reset(tracker: str, broker: Broker) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    Group.objects.filter(name__startswith="peer-").delete()
    redis.Redis.from_url(broker.url).flushall()
    clear(tracker)


def lost_and_duplicates(expected: set[str], got: Counter[str]) -> tuple[int, int]:
    return len(expected - set(got)), sum(count - 1 for count in got.values() if count > 1)


# --- the measures ------------------------------------------------------------------------------
def transaction_ms(peer: Peer, tag: str, count: int) -> tuple[float, float]:
    """p50 of the shop's one-row transaction, without and with the call, in ms."""
    plain, with_call = [], []
    for i, item in enumerate(events(tag, count + 30)):
        start = time.perf_counter()
        with transaction.atomic():
            Group.objects.create(name=f"{tag}-plain-{i}")
        middle = time.perf_counter()
        shop_transaction(peer, item)
        if i >= 30:  # warmed up
            plain.append(middle - start)
            with_call.append(time.perf_counter() - middle)
    return median(plain) * 1000, median(with_call) * 1000


def measure(peer: Peer, tracker: str, broker: Broker) -> list[Row]:
    def tag(name: str) -> str:
        return f"peer-{peer.key}-{name}-{uuid.uuid4().hex[:6]}"

    environ = harness.env(
        DJANGO_SETTINGS_MODULE="benchmarks.peers.settings",
        REDIS_URL=broker.url,
        SEG_TRACKER_URL=tracker,
    )
    reset(tracker, broker)
    say(f"{peer.key}: the shop's transaction")
    plain, with_call = transaction_ms(peer, tag("tx"), n(400))
    reset(tracker, broker)
    run = Running(peer, environ)
    say(f"{peer.key}: ingest to delivered")
    try:
        # Ingest to delivered.
        count = n(1500)
        items = events(tag("flow"), count)
        start = time.perf_counter()
        ingest(peer, items)
        made = time.perf_counter() - start
        harness.wait_for(lambda: received(tracker) >= count, timeout=600, every=0.1)
        elapsed = time.perf_counter() - start
        got = arrivals(tracker)
        assert {i["messageId"] for i in items} <= set(got), "not all delivered"
        rss = run.rss_mib()
        processes = len([p for proc in run.procs for p in (proc.proc.pid, *proc.children())])
        # The faults on the same processes, with the recovery timers short.
        run.stop()
        run = Running(peer, dict(environ, PEER_RECOVERY=str(RECOVERY)))

        say(f"{peer.key}: {count / elapsed:.0f} events/s; killing the worker")
        # The worker SIGKILLed mid-run.
        clear(tracker)
        killed = tag("kill")
        kill_count = n(800)
        making = threading.Thread(target=ingest, args=(peer, events(killed, kill_count)))
        making.start()
        harness.wait_for(lambda: received(tracker) >= kill_count // 4, timeout=300, every=0.05)
        killed_at = time.time()
        run.kill_worker()
        making.join()
        kill_lost, kill_dups = lost_and_duplicates(
            expected := committed(killed), settle(tracker, expected, quiet=2 * RECOVERY + 5)
        )
        kill_tail = last_arrival(tracker) - killed_at

        say(f"{peer.key}: lost {kill_lost}, twice {kill_dups}; stopping Redis")
        # Redis stopped during ingest.
        clear(tracker)
        downed = tag("redis")
        stop = threading.Event()
        commits: list[Commit] = []
        making = threading.Thread(
            target=lambda: commits.extend(ingest(peer, events(downed, 20_000), stop))
        )
        making.start()
        time.sleep(2)
        broker.stop()
        down_at = time.monotonic()
        time.sleep(DOWN)
        broker.start()
        up_at, back_at = time.monotonic(), time.time()
        time.sleep(2)
        stop.set()
        making.join()
        run.revive()
        say(f"{peer.key}: waiting for what Redis held")
        expected = committed(downed)
        redis_lost, redis_dups = lost_and_duplicates(
            expected, settle(tracker, expected, quiet=2 * RECOVERY + 5)
        )
        redis_tail = last_arrival(tracker) - back_at
        during = [c for c in commits if c.ended >= down_at and c.ended - c.seconds <= up_at]
        raised = sum(1 for c in commits if c.error)
        longest = max((c.seconds for c in during), default=0.0) * 1000
        restarts = run.restarts
    finally:
        run.stop()
    return rows(
        peer,
        {
            "rate": (elapsed, count, made),
            "tx": (plain, with_call),
            "rss": (rss, processes),
            "kill": (kill_count, kill_lost, kill_dups, kill_tail),
            "redis": (
                len(expected),
                redis_lost,
                redis_dups,
                raised,
                longest,
                len(during),
                restarts,
                redis_tail,
            ),
        },
    )


def rows(peer: Peer, got: dict[str, Any]) -> list[Row]:
    elapsed, count, made = got["rate"]
    plain, with_call = got["tx"]
    rss, processes = got["rss"]
    kill_count, kill_lost, kill_dups, kill_tail = got["kill"]
    made_down, redis_lost, redis_dups, raised, longest, during, restarts, redis_tail = got["redis"]
    restarted = f"; {restarts} process(es) exited and were started again" if restarts else ""
    table: Iterable[tuple[str, str, float, str, str]] = (
        ("rate", "events/s from ingest to delivered", count / elapsed, "events/s",
         f"{count} events from {THREADS} shop threads; the transactions took {made:.1f} s of the {elapsed:.1f} s"),
        ("tx", "time added to the shop's one-row transaction, p50", with_call - plain, "ms",
         f"{with_call:.2f} ms against {plain:.2f} ms without the call; commit and any publish after it included"),
        ("rss", "RSS of the processes it runs, after the run", rss, "MiB",
         f"{processes} processes: the worker and its {CONCURRENCY} pool processes, and beat or the relay where it has one"),
        ("kill lost", "workers SIGKILLed mid-run: events lost", kill_lost, "events",
         f"of {kill_count}; a new worker started at once"),
        ("kill dups", "workers SIGKILLed mid-run: duplicates", kill_dups, "events",
         "a second 2xx for one MessageId"),
        ("kill tail", "workers SIGKILLed: the last event in, after the kill", kill_tail, "s",
         "the shop went on making events after the kill"),
        ("redis lost", "Redis stopped during ingest: events lost", redis_lost, "events",
         f"of {made_down} orders committed; Redis down {DOWN:.0f} s, {during} transactions during it{restarted}"),
        ("redis dups", "Redis stopped during ingest: duplicates", redis_dups, "events", ""),
        ("redis raised", "Redis stopped: shop transactions that raised", raised, "calls",
         "the order committed, the view would answer 500"),
        ("redis longest", "Redis stopped: the longest shop transaction", longest, "ms", ""),
        ("redis tail", "Redis stopped: the last event in, after Redis was back", redis_tail, "s",
         "the shop went on making events for 2 s after it was back"),
    )  # fmt: skip
    return [
        Row(
            f"peers, {peer.label}: {name}",
            value,
            unit,
            note=note,
            extra={"peer": peer.key, "measure": measure},
        )
        for measure, name, value, unit, note in table
    ]


def bench(tracker: str, broker: Broker, log: Any) -> list[Row]:
    out: list[Row] = []
    for peer in PEERS:
        got = measure(peer, tracker, broker)
        for row in got:
            print(f"{row.name}: {row.value:,.1f} {row.unit}", file=log, flush=True)
        out += got
    reset(tracker, broker)
    return out
