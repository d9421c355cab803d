"""Objects kept once per process: a forked Celery worker must not share a parent's sockets."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def per_process(factory: Callable[[], T]) -> Callable[[], T]:
    """A getter that returns ``factory()``, made once in each process.

    A pool process forked after the parent made one gets its own on first use,
    so no two processes share a connection.
    """
    made: dict[int, T] = {}

    def get() -> T:
        pid = os.getpid()
        if pid not in made:
            made.clear()
            made[pid] = factory()
        return made[pid]

    return get
