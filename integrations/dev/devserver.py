"""Django's development server, taught to read request bodies sent chunked.

``manage.py runserver`` hands the app only the bytes ``Content-Length`` announces,
so a body sent with ``Transfer-Encoding: chunked`` (a streaming client or proxy)
arrives empty. This app's ``runserver`` command serves with ``ChunkedWSGIServer``,
whose handler decodes the chunked framing (RFC 9112 section 7.1) from the socket and
passes the body on with a Content-Length. It reads no body past Segment's 500 KB
(MAX_REQUEST_BYTES), on any path: Django's own handler would read whatever the
app left unread into memory. ``integrations`` must come before
``django.contrib.staticfiles`` in INSTALLED_APPS for its ``runserver`` to be the one
that runs. Production servers such as gunicorn dechunk on their own (see views).
"""

from __future__ import annotations

import io
import re
from http import HTTPStatus
from typing import Any, BinaryIO

from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

from ..core import MAX_REQUEST_BYTES

# chunk-size [ chunk-ext ] CRLF (RFC 9112 section 7.1.1). Extensions are matched
# only to be ignored, as the RFC asks; a bare CR or LF in one is refused.
SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r\n")
# The longest size line or trailer line read, and the most trailer lines.
MAX_LINE = 4096
MAX_TRAILERS = 100


class ChunkedBodyError(ValueError):
    """The chunked framing is malformed, or the stream ended inside it."""


def read_chunked(stream: BinaryIO, limit: int) -> bytes:
    """Decode a chunked body from ``stream``, holding at most ``limit + 1`` bytes of it.

    ``stream`` is buffered: ``read(n)`` returns fewer than ``n`` bytes only at its
    end. The framing (RFC 9112 section 7.1) is chunks of a hex size line, that many
    bytes and CRLF; then the last chunk ``0``, trailer lines (discarded) and an empty
    line. Returns the body, with ``stream`` left just after its framing.

    A body over ``limit`` bytes is returned as its first ``limit + 1`` bytes, and
    ``stream`` is read no further: it is left inside the body, so the connection
    cannot carry another request. Raises ChunkedBodyError on malformed framing or
    when ``stream`` ends before the framing does.
    """
    body = bytearray()
    while size := _chunk_size(stream.readline(MAX_LINE + 1)):
        wanted = min(size, limit + 1 - len(body))
        data = stream.read(wanted)
        body += data
        if len(data) < wanted:
            raise ChunkedBodyError("The chunked body ended inside a chunk.")
        if len(body) > limit:
            return bytes(body)
        if stream.read(2) != b"\r\n":
            raise ChunkedBodyError("A chunk of the chunked body does not end with CRLF.")
    for _ in range(MAX_TRAILERS + 1):
        line = stream.readline(MAX_LINE + 1)
        if line == b"\r\n":
            return bytes(body)
        if not line.endswith(b"\r\n"):
            raise ChunkedBodyError("The chunked body's trailer section is cut short or malformed.")
    raise ChunkedBodyError(f"The chunked body has more than {MAX_TRAILERS} trailer lines.")


def _chunk_size(line: bytes) -> int:
    match = SIZE_LINE.fullmatch(line)
    if match is None:
        if not line:
            raise ChunkedBodyError("The chunked body ended before its last chunk.")
        raise ChunkedBodyError(f"The chunked body has a malformed size line: {line[:40]!r}.")
    return int(match[1], 16)


def _length(value: str) -> int:
    """A Content-Length value (RFC 9110 section 8.6: digits only); ValueError otherwise."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise ValueError(value)
    return int(value)


class ChunkedRequestHandler(WSGIRequestHandler):
    """Django's dev server request handler, which also reads chunked bodies.

    No body past ``body_limit`` (MAX_REQUEST_BYTES) is read, on any path: a
    Content-Length over it is answered 413 here, unread, and one that is not a
    number 400; either way the connection is closed. A request sent with
    ``Transfer-Encoding: chunked`` reaches the app as an ordinary one: the decoded
    body, a Content-Length and no Transfer-Encoding. A body over ``body_limit``
    reaches it as its first ``body_limit + 1`` bytes, so that the app's own size
    check refuses it, and the connection is closed after the answer since the rest
    was never read. Malformed framing is answered 400 here, and the connection
    closed.
    """

    body_limit = MAX_REQUEST_BYTES

    def handle_one_request(self) -> None:
        socket_file = self.rfile
        try:
            super().handle_one_request()
        finally:
            # parse_request() may have swapped in the decoded body; the next
            # request on a kept-alive connection comes from the socket.
            self.rfile = socket_file

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        # Django's handler reads whatever the app left of a body into memory
        # before the next request (``ServerHandler.close``): a length over the
        # bound is refused here, before a byte of the body is read, and the
        # connection closed.
        try:
            announced = max(map(_length, self.headers.get_all("Content-Length") or ()), default=0)
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST, explain="Content-Length is not a number.")
            return False
        if announced > self.body_limit:
            self.send_error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                explain=f"The request is over {self.body_limit // 1024} KB.",
            )
            return False
        coding = self.headers.get("Transfer-Encoding")
        if coding is None:
            return True
        # RFC 9112 section 6.3: a length that cannot be determined reliably (other
        # codings, or Content-Length beside chunked) gets 400 and a closed connection.
        if (
            coding.strip().lower() != "chunked"
            or "Content-Length" in self.headers
            or self.request_version != "HTTP/1.1"
        ):
            self.send_error(
                HTTPStatus.BAD_REQUEST,
                explain="Only Transfer-Encoding: chunked alone, on HTTP/1.1, is read.",
            )
            return False
        try:
            body = read_chunked(self.rfile, self.body_limit)
        except ChunkedBodyError as error:
            self.send_error(HTTPStatus.BAD_REQUEST, explain=str(error))
            return False
        if len(body) > self.body_limit:
            self.close_connection = True
        del self.headers["Transfer-Encoding"]
        self.headers["Content-Length"] = str(len(body))
        self.rfile = io.BytesIO(body)
        return True


class ChunkedWSGIServer(WSGIServer):
    """Django's dev server, serving every request with ChunkedRequestHandler.

    ``basehttp.run()`` names its own handler class, and only the server class can be
    chosen (the runserver command's ``server_cls``), so the server swaps it here.
    """

    def __init__(self, server_address: Any, handler_class: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(server_address, ChunkedRequestHandler, *args, **kwargs)
