"""A deadline for one whole HTTP exchange, which requests and urllib3 do not have.

Their read timeout bounds each socket read, not the answer: a server that
sends a byte every few seconds holds a request for as long as it likes. Inside
``within(seconds)``, every socket a session's connection opens or reuses is
watched; a thread of this process shuts it down once the deadline passes, so
whatever read is waiting ends at once (as the server closing it would), in
the TLS handshake, the status line, the headers or the body.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ..core import per_process


class Budget:
    """One exchange's deadline (``time.monotonic()``) and the sockets it watches."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.watched: list[int] = []  # the watchdog's tokens

    def left(self) -> float:
        """Seconds left, never below zero."""
        return max(0.0, self.deadline - time.monotonic())

    def passed(self) -> bool:
        return time.monotonic() >= self.deadline


_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "seg_post_budget", default=None
)


class Watchdog:
    """Shuts down each watched socket whose deadline has passed; one thread per process.

    The thread sleeps until the earliest deadline it knows of; watching a socket
    wakes it only when that deadline is earlier still, so a worker posting one
    request after the other costs a lock and a heap push a request.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._sockets: dict[int, socket.socket] = {}
        self._tokens = itertools.count()
        self._waking_at = float("inf")
        threading.Thread(target=self._run, name="seg-post-deadline", daemon=True).start()

    def watch(self, sock: socket.socket, deadline: float) -> int:
        """Shut ``sock`` down at ``deadline`` unless ``forget`` comes first; a token for that."""
        with self._lock:
            token = next(self._tokens)
            self._sockets[token] = sock
            heapq.heappush(self._heap, (deadline, token))
            if deadline < self._waking_at:
                self._lock.notify()
            return token

    def forget(self, token: int) -> None:
        """Leave the socket alone from now on (it may go back to its pool)."""
        with self._lock:
            self._sockets.pop(token, None)

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                while self._heap and (
                    self._heap[0][0] <= now or self._heap[0][1] not in self._sockets
                ):
                    _, token = heapq.heappop(self._heap)
                    sock = self._sockets.pop(token, None)
                    if sock is not None:
                        with contextlib.suppress(OSError):
                            # The plain socket's shutdown, also under TLS: the reader
                            # sees the end of the stream, and the TLS object is left
                            # to the thread that uses it.
                            socket.socket.shutdown(sock, socket.SHUT_RDWR)
                self._waking_at = self._heap[0][0] if self._heap else float("inf")
                self._lock.wait(None if not self._heap else self._waking_at - now)


watchdog = per_process(Watchdog)


@contextlib.contextmanager
def within(seconds: float) -> Iterator[Budget]:
    """Run one exchange on a session from ``session()`` with ``seconds`` for all of it.

    Sockets its connections use meanwhile are shut down once the time is up;
    after the block they are left alone. ``Budget.passed()`` tells, after an
    error, whether the deadline caused it.
    """
    budget = Budget(time.monotonic() + seconds)
    reset = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(reset)
        guard = watchdog()
        for token in budget.watched:
            guard.forget(token)


def _watch(sock: Any) -> None:
    budget = _current.get()
    if budget is not None and sock is not None:
        budget.watched.append(watchdog().watch(sock, budget.deadline))


class _Watched:
    """A connection whose sockets the current budget watches: a new one as soon as it
    is connected (before any TLS handshake), a kept-alive one as a request starts."""

    sock: Any

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            _watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


POOLS = {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}


class WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter with watched connections, direct or through an HTTP(S) proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools have connections of their own
            manager.pool_classes_by_scheme = POOLS
        return manager


def session() -> requests.Session:
    """A new session whose requests keep the deadline of ``within``."""
    made = requests.Session()
    made.mount("http://", WatchedAdapter())
    made.mount("https://", WatchedAdapter())
    return made
