"""The development server reads no body past Segment's 500 KB, whatever a client announces
or sends: measured on a real ``manage.py seg_runserver`` process."""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from integrations.core import MAX_REQUEST_BYTES

from .conftest import BROWSER_KEY, WebServer

HUGE = 100 * 1024 * 1024
PIECE = b"x" * (1024 * 1024)
AUTH = base64.b64encode(f"{BROWSER_KEY}:".encode()).decode()


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM, Linux), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def send_huge(server: WebServer, head: bytes, body: Callable[[int], bytes]) -> tuple[bytes, int]:
    """Send ``head``, then up to HUGE bytes of body (``body(i)`` the i-th MB) while reading
    the answer. Returns the answer's first bytes and the body bytes the server took."""
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)

        def send() -> None:
            nonlocal sent
            with contextlib.suppress(OSError):
                for i in range(HUGE // len(PIECE)):
                    sock.sendall(body(i))
                    sent += len(PIECE)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = b""
        with contextlib.suppress(OSError):
            while len(answer) < 12 and (data := sock.recv(4096)):
                answer += data
        sender.join(30)
    return answer, sent


def post_head(extra: str) -> bytes:
    return (
        "POST /seg/v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        f"Authorization: Basic {AUTH}\r\n{extra}\r\n\r\n"
    ).encode()


@pytest.fixture
def devserver(start_devserver: Callable[..., WebServer]) -> WebServer:
    return start_devserver()


@pytest.mark.django_db(transaction=True)
def test_an_announced_length_over_the_bound_is_refused_unread(devserver: WebServer) -> None:
    before = peak_rss(devserver.proc.pid)
    for _ in range(3):
        answer, sent = send_huge(devserver, post_head(f"Content-Length: {HUGE}"), lambda i: PIECE)
        assert answer.startswith(b"HTTP/1.1 413"), answer
        # What the kernel's socket buffers hold, not the body: the server read none of it.
        assert sent < 32 * 1024 * 1024
    time.sleep(0.5)
    assert peak_rss(devserver.proc.pid) - before < 40 * 1024 * 1024
    assert devserver.proc.poll() is None


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_is_cut_off_at_the_bound(devserver: WebServer) -> None:
    before = peak_rss(devserver.proc.pid)
    size_line = b"%x\r\n" % len(PIECE)
    for _ in range(3):
        answer, sent = send_huge(
            devserver,
            post_head("Transfer-Encoding: chunked"),
            lambda i: size_line + PIECE + b"\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer
        assert sent < 32 * 1024 * 1024
    assert peak_rss(devserver.proc.pid) - before < 40 * 1024 * 1024


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("length", ["abc", "-1", f"{MAX_REQUEST_BYTES + 1}, 5"])
def test_a_length_that_cannot_be_trusted_is_refused(devserver: WebServer, length: str) -> None:
    with socket.create_connection(("127.0.0.1", devserver.port), timeout=30) as sock:
        sock.sendall(post_head(f"Content-Length: {length}") + b"{}")
        answer = sock.recv(4096)
    assert answer.split(b" ")[1] in (b"400", b"413"), answer
