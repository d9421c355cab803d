"""The shop: orders, each with its event, made in transactions from THREADS threads."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group
from django.db import connection, transaction

from benchmarks.peers.peers import Peer
from benchmarks.run import message

THREADS = 4  # the shop's web workers


@dataclass(frozen=True)
class Commit:
    seconds: float
    ended: float  # time.monotonic()
    error: str


def shop_transaction(peer: Peer, item: dict[str, Any]) -> Commit:
    """One order and its event; an error raised after the commit leaves the order committed."""
    start = time.perf_counter()
    error = ""
    try:
        with transaction.atomic():
            Group.objects.create(name=item["messageId"])
            peer.record(item)
    except Exception as exc:  # what the shop's view would turn into a 500
        error = type(exc).__name__
    return Commit(time.perf_counter() - start, time.monotonic(), error)


def ingest(
    peer: Peer, items: list[dict[str, Any]], stop: threading.Event | None = None
) -> list[Commit]:
    """Make the events in THREADS threads (the shop's web workers), until done or ``stop``."""
    commits: list[Commit] = []

    def work(index: int) -> None:
        for item in items[index::THREADS]:
            if stop is not None and stop.is_set():
                break
            commits.append(shop_transaction(peer, item))
        connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return commits


def committed(tag: str) -> set[str]:
    """The messageIds of the orders that committed (each order is named after its event)."""
    return set(Group.objects.filter(name__startswith=f"{tag}-").values_list("name", flat=True))


def events(tag: str, count: int) -> list[dict[str, Any]]:
    return [message(i, tag) for i in range(count)]
