"""The backfill's pace: at most a rate of events a second, and a bounded backlog of them."""

from __future__ import annotations

import time

from .models import OUTSTANDING, Event, Source

BACKLOG_SECONDS = 5.0  # the backlog a run lets its events make, in seconds of its rate


class Pace:
    """At most ``rate`` events a second on average, and a backlog of at most
    BACKLOG_SECONDS of it: waits before each chunk as long as either needs."""

    def __init__(self, rate: float) -> None:
        self.rate, self.started, self.sent = rate, time.monotonic(), 0

    def wait(self, count: int) -> None:
        due = self.started + self.sent / self.rate
        if (ahead := due - time.monotonic()) > 0:
            time.sleep(ahead)
        while self._backlog() > self.rate * BACKLOG_SECONDS:
            time.sleep(0.2)
        if time.monotonic() - due > 1.0:
            # Waited on the backlog, or the source was slow: no burst to catch up.
            self.started, self.sent = time.monotonic(), 0
        self.sent += count

    @staticmethod
    def _backlog() -> int:
        return Event.objects.filter(source=Source.BACKFILL, status__in=OUTSTANDING).count()
