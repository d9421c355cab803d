"""gunicorn's threaded worker, with a deadline on each request a client sends.

gthread gives a connection a thread only once it has data, but then the thread
reads the request until it is whole: a client that drips its headers or body a
byte at a time holds that thread for as long as it likes, and a few such
clients hold them all. ``DeadlineWorker`` gives each request ``read_deadline``
seconds from the moment a thread takes it up (headers, body and the app's
answer): past it, the connection's reading side is shut, so the thread's read
ends at once, the request is dropped (or answered, when the app already has
what it needs) and the connection closed. ``gunicorn.conf.py`` sets it up.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]

# How often the watch looks for requests past their deadline, at most.
TICK = 0.25


class Deadlines:
    """Sockets being served and when each must be done reading; a thread cuts the late ones.

    ``start(sock)`` gives ``sock`` ``seconds`` from now; ``stop(sock)`` forgets it.
    Late sockets get ``shutdown(SHUT_RD)``, under the lock ``stop`` takes, so a
    socket is never shut once its request is done (and its descriptor perhaps reused).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._due: dict[int, tuple[float, socket.socket]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="read-deadlines", daemon=True)
        self._thread.start()

    def start(self, sock: socket.socket) -> None:
        with self._lock:
            self._due[id(sock)] = (time.monotonic() + self.seconds, sock)

    def stop(self, sock: socket.socket) -> None:
        with self._lock:
            self._due.pop(id(sock), None)

    def _watch(self) -> None:
        while True:
            time.sleep(min(TICK, self.seconds / 4))
            now = time.monotonic()
            with self._lock:
                late = [key for key, (due, _) in self._due.items() if due <= now]
                for key in late:
                    _, sock = self._due.pop(key)
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RD)


class DeadlineWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's ``gthread`` worker, each request cut off ``read_deadline`` seconds after
    a thread takes it up (the class attribute; ``gunicorn.conf.py`` sets it)."""

    read_deadline = 10.0

    def init_process(self) -> None:
        self.deadlines = Deadlines(self.read_deadline)
        super().init_process()

    def handle(self, conn: Any) -> Any:
        self.deadlines.start(conn.sock)
        try:
            return super().handle(conn)
        finally:
            self.deadlines.stop(conn.sock)
