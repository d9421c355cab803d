"""Slow clients against the shipped deployment: real gunicorn, started with
``gunicorn.conf.py`` as scripts/run.sh starts it, real sockets dripping a request."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from integrations.dev import Sandbox

from .conftest import BROWSER_KEY, ROOT, WRITE_KEY, WebServer, child_env, free_port

pytestmark = pytest.mark.django_db(transaction=True)


class ShippedServer(WebServer):
    """gunicorn as the shipped configuration runs it, on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
        command += ["--bind", f"127.0.0.1:{self.port}"]
        self.start(command, env, ready="Booting worker")


@pytest.fixture
def start_shipped(sandbox: Sandbox) -> Iterator[Callable[..., ShippedServer]]:
    started: list[ShippedServer] = []

    def start(**extra_env: str) -> ShippedServer:
        server = ShippedServer(child_env(sandbox, **extra_env))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class Drip:
    """A client sending a request's headers one byte every ``every`` seconds, for ever.

    ``closed_after`` is how long the server took to close the connection, or None.
    """

    def __init__(self, port: int, every: float = 0.5) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.closed_after: float | None = None
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        head = b"POST /seg/v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100_000
        started = time.monotonic()
        try:
            for byte in head:
                if self._stop.is_set():
                    return
                self.sock.sendall(bytes([byte]))
                time.sleep(self.every)
                self.sock.setblocking(False)
                try:
                    if self.sock.recv(1024) == b"":
                        break
                except BlockingIOError:
                    continue
                finally:
                    self.sock.setblocking(True)
        except OSError:
            pass
        self.closed_after = time.monotonic() - started

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.close()


@pytest.fixture
def drips() -> Iterator[list[Drip]]:
    opened: list[Drip] = []
    yield opened
    for drip in opened:
        drip.stop()


def well_behaved(server: WebServer, n: int) -> dict[str, Any]:
    """``n`` requests as a shop and a page send them, one after the other: their answers
    and the slowest time taken."""
    statuses, slowest = [], 0.0
    for i in range(n):
        start = time.monotonic()
        if i % 2:
            response = requests.get(
                f"{server.url}/seg/v1/projects/{BROWSER_KEY}/settings", timeout=15
            )
        else:
            response = requests.post(
                f"{server.url}/seg/v1/track",
                json={"userId": "u1", "event": "Product Viewed", "messageId": f"m{i}"},
                auth=(WRITE_KEY, ""),
                timeout=15,
            )
        statuses.append(response.status_code)
        slowest = max(slowest, time.monotonic() - start)
    return {"statuses": statuses, "slowest": slowest}


def test_slow_clients_do_not_starve_the_shipped_server(
    start_shipped: Callable[..., ShippedServer], drips: list[Drip]
) -> None:
    server = start_shipped(WEB_CONCURRENCY="2")
    assert requests.get(f"{server.url}/seg/v1/projects/{BROWSER_KEY}/settings", timeout=30).ok
    drips += [Drip(server.port) for _ in range(8)]
    time.sleep(6)  # past gunicorn's wait for a first byte: each drip holds a thread now
    done = well_behaved(server, 6)
    assert done["statuses"] == [200] * 6
    assert done["slowest"] < 3


def test_a_request_that_takes_too_long_to_arrive_is_cut_off(
    start_shipped: Callable[..., ShippedServer], drips: list[Drip]
) -> None:
    # One worker of two threads: four drips would hold it for good, but for the deadline.
    server = start_shipped(WEB_CONCURRENCY="1", WEB_THREADS="2", WEB_READ_DEADLINE="2")
    drips += [Drip(server.port) for _ in range(4)]
    time.sleep(1)
    done = well_behaved(server, 4)
    assert done["statuses"] == [200] * 4
    # Each waits at most for two drips' deadlines (2 s each, a watch tick, a 5 s first byte).
    assert done["slowest"] < 10
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(d.closed_after is None for d in drips):
        time.sleep(0.2)
    assert all(d.closed_after is not None for d in drips)
