"""A pool process told to stop while it delivers: the post on the wire ends, and its
outcome is stored, before the process does.

Celery cancels a running task by sending its pool process SIGTERM: when the worker
loses its broker with late-acknowledged tasks running
(``worker_cancel_long_running_tasks_on_connection_loss``, which
``integrations.celery_settings`` turns on), and on ``revoke(terminate=True)``. The
signal's default action ends the process at once, with a post on the wire whose
outcome is then never stored: its lease lapses and the event is sent to Seg again.

While ``deferred()`` is active in the main thread, SIGTERM only notes the request.
The delivery loop asks ``requested()`` before each post: it stores the outcome it
has, gives the claims it has not posted back, and returns. Leaving the block
raises the noted signal again under the handler that was there before, so the
process still stops as Celery meant, only after the post in flight. A post that
SIGTERM interrupts in a system call goes on (PEP 475: the call is retried after
the handler runs).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_requested = False


def requested() -> bool:
    """Whether SIGTERM arrived inside ``deferred()``: post nothing more."""
    return _requested


def _note(signum: int, frame: FrameType | None) -> None:
    global _requested
    _requested = True


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGTERM back for the block (in the main thread only; elsewhere signals
    cannot be handled and the block runs as it is), then raise it again if it came."""
    global _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _note)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if _requested:
            _requested = False
            os.kill(os.getpid(), signal.SIGTERM)
