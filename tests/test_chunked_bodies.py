"""Request bodies sent chunked, with no Content-Length: under gunicorn and under seg_runserver."""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from integrations.core import MAX_REQUEST_BYTES
from integrations.dev.devserver import (
    MAX_TRAILERS,
    ChunkedBodyError,
    ChunkedWSGIServer,
    read_chunked,
)
from integrations.models import Event

from .conftest import WRITE_KEY, WebServer

AUTH = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()


def frame(body: bytes, size: int = 1 << 16, extension: bytes = b"", trailers: bytes = b"") -> bytes:
    """``body`` in chunked framing: pieces of ``size`` bytes, each size line with ``extension``."""
    pieces = [body[start : start + size] for start in range(0, len(body), size)]
    chunks = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in pieces)
    return chunks + b"0" + extension + b"\r\n" + trailers + b"\r\n"


def head(path: str, *headers: str) -> bytes:
    lines = [f"POST /seg/v1/{path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: {AUTH}"]
    lines += ["Content-Type: application/json", "Transfer-Encoding: chunked", *headers]
    return "\r\n".join([*lines, "", ""]).encode()


def answer(sock: socket.socket) -> tuple[int, bytes] | None:
    """The server's answer on ``sock``, or None when it closed the connection without one."""
    response = http.client.HTTPResponse(sock)
    try:
        response.begin()
        return response.status, response.read()
    except ConnectionResetError:  # RemoteDisconnected included
        return None


def exchange(
    server: WebServer, request: bytes, half_close: bool = False
) -> tuple[int, bytes] | None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(request)
        if half_close:
            # The client is done: a server waiting for more must see the end.
            sock.shutdown(socket.SHUT_WR)
        return answer(sock)


def track(message_id: str) -> dict[str, Any]:
    return {
        "userId": "u1",
        "event": "Order Completed",
        "messageId": message_id,
        "properties": {"orderId": message_id, "total": 30},
        "context": {"traits": {"email": "ann@example.com"}},
    }


def batch(*message_ids: str) -> bytes:
    return json.dumps({"batch": [{"type": "track", **track(i)} for i in message_ids]}).encode()


TRACK = json.dumps(track("t1")).encode()
BATCH = batch("b1", "b2", "b3")

# name: (path, framed body, extra headers, messageIds stored)
CASES: dict[str, tuple[str, bytes, tuple[str, ...], list[str]]] = {
    "a track": ("track", frame(TRACK), (), ["t1"]),
    "a batch": ("batch", frame(BATCH, size=100), (), ["b1", "b2", "b3"]),
    "a gzip batch, short path": (
        "b",
        frame(gzip.compress(BATCH), size=64),
        ("Content-Encoding: gzip",),
        ["b1", "b2", "b3"],
    ),
    "extensions and trailers": (
        "t",
        frame(TRACK, size=50, extension=b';note="a;b" ; flag', trailers=b"X-Sum: 1\r\nX-N: 2\r\n"),
        ("Trailer: X-Sum, X-N",),
        ["t1"],
    ),
    "one-byte chunks": ("track", frame(TRACK, size=1), (), ["t1"]),
}


@pytest.fixture(params=["gunicorn", "runserver"])
def server(
    request: pytest.FixtureRequest,
    start_web: Callable[..., WebServer],
    start_devserver: Callable[..., WebServer],
) -> WebServer:
    return start_web() if request.param == "gunicorn" else start_devserver()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("path", "framed", "headers", "stored"), CASES.values(), ids=CASES.keys())
def test_a_chunked_body_is_read_and_stored(
    server: WebServer, path: str, framed: bytes, headers: tuple[str, ...], stored: list[str]
) -> None:
    reply = exchange(server, head(path, *headers, "Connection: close") + framed)
    assert reply is not None
    assert reply == (200, b'{"success": true}')
    assert sorted(Event.objects.values_list("message_id", flat=True)) == stored


@pytest.mark.django_db(transaction=True)
def test_a_client_streaming_a_generator_is_read(server: WebServer) -> None:
    body = batch(*(f"g{n}" for n in range(20)))

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    # requests sends a generator body chunked, with no Content-Length.
    response = requests.post(
        f"{server.url}/seg/v1/batch",
        data=pieces(),
        auth=(WRITE_KEY, ""),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 200, response.text
    assert Event.objects.count() == 20


@pytest.mark.django_db(transaction=True)
def test_chunked_requests_follow_each_other_on_one_connection(server: WebServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        for message_id in ("k1", "k2"):
            sock.sendall(head("track") + frame(json.dumps(track(message_id)).encode(), size=40))
            assert answer(sock) == (200, b'{"success": true}')
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["k1", "k2"]


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_over_the_limit_is_refused_before_it_ends(server: WebServer) -> None:
    piece = b"x" * 10_000
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(head("batch"))

        def send() -> None:
            # 600 KB, and never the last chunk: a server that reads to the end
            # never answers.
            with contextlib.suppress(OSError):
                for _ in range(60):
                    sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        reply = answer(sock)
        sender.join(20)
    assert reply is not None
    status, body = reply
    assert status == 413
    assert json.loads(body)["code"] == "payload_too_large"
    assert Event.objects.count() == 0


MALFORMED = {
    "a size that is not hex": b"%x\r\n%s\r\nzz\r\n" % (len(TRACK), TRACK),
    "a chunk without its CRLF": b"%x\r\n%sXX0\r\n\r\n" % (len(TRACK), TRACK),
    "a body cut short": b"%x\r\n%s" % (len(TRACK) + 10, TRACK),
    "no last chunk": b"%x\r\n%s\r\n" % (len(TRACK), TRACK),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("framed", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_chunked_framing_is_refused(server: WebServer, framed: bytes) -> None:
    reply = exchange(server, head("track") + framed, half_close=True)
    # A clean close is an answer too; a 500 or a hang is not.
    if reply is not None:
        status, body = reply
        assert status == 400
        assert b"chunked" in body.lower()
    assert Event.objects.count() == 0


@pytest.fixture
def echo_port() -> Iterator[int]:
    """ChunkedWSGIServer in this process, serving an app that says what it was given."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()
        given = [environ.get("CONTENT_LENGTH"), environ.get("HTTP_TRANSFER_ENCODING")]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps([*given, body.decode()]).encode()]

    server = ChunkedWSGIServer(("127.0.0.1", 0), None)
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_dev_server_gives_the_app_a_body_with_a_length(echo_port: int) -> None:
    request = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", echo_port), timeout=20) as sock:
        sock.sendall(request + frame(b"hello", size=2))
        reply = answer(sock)
    assert reply is not None
    assert json.loads(reply[1]) == ["5", None, "hello"]


UNTRUSTED = {
    "Content-Length beside chunked": (
        "HTTP/1.1",
        "Transfer-Encoding: chunked\r\nContent-Length: 5",
    ),
    "another coding before chunked": ("HTTP/1.1", "Transfer-Encoding: gzip, chunked"),
    "chunked twice": ("HTTP/1.1", "Transfer-Encoding: chunked, chunked"),
    "a coding that is not chunked": ("HTTP/1.1", "Transfer-Encoding: gzip"),
    "chunked on HTTP/1.0": ("HTTP/1.0", "Transfer-Encoding: chunked"),
}


@pytest.mark.parametrize(("version", "headers"), UNTRUSTED.values(), ids=UNTRUSTED.keys())
def test_dev_server_refuses_framing_it_cannot_trust(
    echo_port: int, version: str, headers: str
) -> None:
    request = f"POST / {version}\r\nHost: x\r\n{headers}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", echo_port), timeout=20) as sock:
        sock.sendall(request + frame(b"hello"))
        reply = answer(sock)
        assert reply is not None and reply[0] == 400
        assert sock.recv(1) == b""  # and the connection closed


# The decoder itself: (framed input, the body, what is left in the stream).
DECODED = {
    "one chunk": (b"5\r\nhello\r\n0\r\n\r\n", b"hello", b""),
    "chunks": (b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", b"hello", b""),
    "an empty body": (b"0\r\n\r\n", b"", b""),
    "upper-case hex": (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789", b""),
    "leading zeros": (b"0005\r\nhello\r\n000\r\n\r\n", b"hello", b""),
    "extensions": (b'5;a=b;c="x;y"\r\nhello\r\n0;z\r\n\r\n', b"hello", b""),
    "space before an extension": (b"5 \t;a\r\nhello\r\n0\r\n\r\n", b"hello", b""),
    "trailers": (b"5\r\nhello\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n", b"hello", b""),
    "CRLF inside the data": (b"4\r\n\r\n\r\n\r\n0\r\n\r\n", b"\r\n\r\n", b""),
    "the next request is left": (b"2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n", b"hi", b"GET /"),
}


@pytest.mark.parametrize(("framed", "body", "rest"), DECODED.values(), ids=DECODED.keys())
def test_decoder_reads_the_body_and_stops_after_its_framing(
    framed: bytes, body: bytes, rest: bytes
) -> None:
    stream = io.BytesIO(framed)
    assert read_chunked(stream, limit=100) == body
    assert stream.read().startswith(rest)


BROKEN = {
    "nothing": b"",
    "a size that is not hex": b"zz\r\nhello\r\n0\r\n\r\n",
    "a 0x prefix": b"0x5\r\nhello\r\n0\r\n\r\n",
    "a sign": b"+5\r\nhello\r\n0\r\n\r\n",
    "an underscore": b"1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n",
    "a space before the size": b" 5\r\nhello\r\n0\r\n\r\n",
    "an empty size line": b"\r\nhello\r\n0\r\n\r\n",
    "a bare LF after the size": b"5\nhello\r\n0\r\n\r\n",
    "a bare CR in an extension": b"5;a\rb\r\nhello\r\n0\r\n\r\n",
    "a size line too long": b"5;" + b"a" * 5000 + b"\r\nhello\r\n0\r\n\r\n",
    "a size too large to hold": b"1" * 17 + b"\r\nhello\r\n0\r\n\r\n",
    "a chunk without its CRLF": b"5\r\nhelloXX0\r\n\r\n",
    "a chunk longer than its size": b"3\r\nhello\r\n0\r\n\r\n",
    "a body cut short": b"5\r\nhel",
    "no last chunk": b"5\r\nhello\r\n",
    "no end of the trailers": b"5\r\nhello\r\n0\r\n",
    "a trailer cut short": b"5\r\nhello\r\n0\r\nX-A: 1",
    "a trailer with a bare LF": b"5\r\nhello\r\n0\r\nX-A: 1\n\r\n",
    "too many trailers": b"0\r\n" + b"X-A: 1\r\n" * (MAX_TRAILERS + 1) + b"\r\n",
}


@pytest.mark.parametrize("framed", BROKEN.values(), ids=BROKEN.keys())
def test_decoder_refuses_malformed_framing(framed: bytes) -> None:
    with pytest.raises(ChunkedBodyError):
        read_chunked(io.BytesIO(framed), limit=100)


@pytest.mark.parametrize(("length", "kept"), [(99, 99), (100, 100), (101, 101), (5000, 101)])
def test_decoder_keeps_at_most_one_byte_past_the_limit(length: int, kept: int) -> None:
    body = bytes(range(256)) * 20
    assert read_chunked(io.BytesIO(frame(body[:length], size=7)), limit=100) == body[:kept]


class Endless(io.RawIOBase):
    """A stream that never ends: ``first``, then ``then`` again and again. Counts what is read."""

    def __init__(self, first: bytes, then: bytes) -> None:
        self.pending = bytearray(first)
        self.then = then
        self.consumed = 0

    def _fill(self, size: int) -> None:
        while len(self.pending) < size:
            self.pending += self.then

    def read(self, size: int = -1) -> bytes:
        assert size >= 0, "an endless stream cannot be read to its end"
        self._fill(size)
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        assert size is not None and size >= 0, "a line with no bound"
        self._fill(size)
        end = self.pending.find(b"\n", 0, size)
        return self._take(size if end < 0 else end + 1)

    def _take(self, size: int) -> bytes:
        data = bytes(self.pending[:size])
        del self.pending[:size]
        self.consumed += size
        return data


def test_decoder_stops_reading_a_huge_chunk_one_byte_past_the_limit() -> None:
    header = b"ffffffffffff\r\n"  # 281 TB announced, and sent for ever
    stream = Endless(header, b"x" * 4096)
    body = read_chunked(stream, limit=MAX_REQUEST_BYTES)  # type: ignore[arg-type]
    assert len(body) == MAX_REQUEST_BYTES + 1
    assert stream.consumed == len(header) + MAX_REQUEST_BYTES + 1


def test_decoder_stops_reading_endless_chunks_one_byte_past_the_limit() -> None:
    header = b"3e8\r\n"  # 1000 bytes a chunk, for ever
    stream = Endless(b"", header + b"x" * 1000 + b"\r\n")
    limit = 10_500
    body = read_chunked(stream, limit)  # type: ignore[arg-type]
    assert len(body) == limit + 1
    # The data up to the byte past the limit, and the framing of the chunks it
    # came in: 11 size lines, and the CRLF after each of the first 10 chunks.
    chunks = -(-(limit + 1) // 1000)
    assert stream.consumed == limit + 1 + chunks * len(header) + (chunks - 1) * 2
