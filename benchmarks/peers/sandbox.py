"""What the sandbox received, read over its control endpoints: counts by MessageId and when."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

import requests


def received(tracker: str) -> int:
    return int(requests.get(f"{tracker}/", timeout=10).json()["received"])


def arrivals(tracker: str) -> Counter[str]:
    """How many 2xx answers each MessageId got. A body that is not a JSON object (a
    request cut short by a worker killed mid-send, which the sandbox keeps as text)
    delivered nothing, and its sender never read the answer."""
    records = requests.get(f"{tracker}/_sandbox/received", timeout=60).json()
    return Counter(
        r["body"]["MessageId"]
        for r in records
        if 200 <= r["status"] < 300 and isinstance(r["body"], dict) and "MessageId" in r["body"]
    )


def last_arrival(tracker: str) -> float:
    """When the sandbox received its last request, in seconds since the epoch."""
    records = requests.get(f"{tracker}/_sandbox/received", timeout=60).json()
    return max((datetime.fromisoformat(r["at"]).timestamp() for r in records), default=0.0)


def settle(tracker: str, expected: set[str], quiet: float = 20, cap: float = 120) -> Counter[str]:
    """The arrivals once every expected event is in, or nothing came for ``quiet`` seconds."""
    start = last_change = time.monotonic()
    seen = -1
    while True:
        count = received(tracker)
        if count != seen:
            seen, last_change = count, time.monotonic()
            if count >= len(expected) and expected <= set(got := arrivals(tracker)):
                return got
        if time.monotonic() - last_change > quiet or time.monotonic() - start > cap:
            return arrivals(tracker)
        time.sleep(0.25)


def clear(tracker: str) -> None:
    requests.delete(f"{tracker}/_sandbox/received", timeout=10)
