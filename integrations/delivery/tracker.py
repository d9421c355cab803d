"""The HTTP client for Seg's tracker: one session per process, the URL, the POST, the answer.

Every request follows the contract's "Outbound" section (docs/seg-contract.md):
``POST {SEG_TRACKER_URL}/django/{websiteId}/{action}``, a JSON body, an
``Idempotency-Key`` that is always sendable, and no redirect followed.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import time
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from django.utils import timezone

from .. import USER_AGENT, conf
from ..core import Verdict, classify_status, error_class, parse_retry_after, per_process
from . import deadline

EXCERPT_CHARS = 500
# What is read of an answer's body at most, in reads of BODY_CHUNK: the excerpt
# needs no more, and a huge body must cost neither memory nor time.
BODY_LIMIT, BODY_CHUNK = 16 * 1024, 4 * 1024
# Printable ASCII, the characters an HTTP header value carries safely everywhere.
PRINTABLE = frozenset(range(0x20, 0x7F))
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Answer:
    """What one POST to Seg came to. ``duration_ms`` in milliseconds."""

    verdict: Verdict
    status_code: int | None
    excerpt: str
    error_class: str
    error: str
    retry_after: timedelta | None
    duration_ms: float

    @classmethod
    def unanswered(cls, error: BaseException, message: str, started: float) -> Answer:
        """No answer came: a network error, or a request that could not be built.

        Retried; ``message`` (cut and made storable) is the attempt's error, and
        ``started`` the ``time.perf_counter()`` the attempt began at.
        """
        return cls(
            Verdict.RETRY,
            None,
            "",
            error_class(None, error),
            storable(message[:EXCERPT_CHARS]),
            None,
            (time.perf_counter() - started) * 1000,
        )


def _new_session() -> requests.Session:
    made = deadline.session()
    # requests reads the environment (proxies, CA bundle, .netrc) on every request of a
    # session that trusts it; ``environment`` reads it once per origin instead.
    made.trust_env = False
    return made


_session = per_process(_new_session)


def session() -> requests.Session:
    """One keep-alive session per process (a forked worker gets its own)."""
    return _session()


@functools.lru_cache(maxsize=16)
def environment(origin: str) -> dict[str, Any]:
    """What requests takes from the environment for ``origin`` (``scheme://host[:port]``):
    the ``proxies``, ``verify`` and ``cert`` keyword arguments of a request, and ``auth``
    from ``.netrc``. Read once per origin and process, as a session that trusts the
    environment (requests' default) would on each request: ``HTTPS_PROXY``,
    ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``NETRC``."""
    trusting = requests.Session()
    settings = trusting.merge_environment_settings(origin, {}, None, None, None)
    return {**settings, "auth": requests.utils.get_netrc_auth(origin)}


def endpoint(action: str, website: str = "") -> str:
    """The tracker URL for ``action`` at the Seg website ``website`` (an event's own,
    recorded at ingest; '' for SEG_WEBSITE_ID); it holds the website id, never a secret.
    Raises SegConfigurationError when there is no website id."""
    return f"{conf.tracker_url()}/django/{conf.website_id(website)}/{action}"


def request_key(message_id: str, source: str) -> str:
    """What identifies an event's request to Seg: its messageId for the shop's server,
    ``browser:`` and the messageId for a page. messageIds are unique per source, so
    a page (whose key anyone may hold) can never take a key the server's events use."""
    return message_id if source == "server" else f"{source}:{message_id}"


def idempotency_key(message_id: str) -> str:
    """The ``Idempotency-Key`` header for a messageId: always a sendable header value.

    The messageId itself when it is printable ASCII of at most 255 characters
    that neither starts nor ends with a space; otherwise ``sha256:`` and the
    hex digest of its UTF-8 bytes, the same on every attempt (contract,
    "Outbound"). ``requests`` cannot send a header outside Latin-1, refuses
    one with edge spaces, and a proxy may refuse anything outside printable ASCII.
    """
    if (
        len(message_id) <= MAX_KEY_LENGTH
        and all(ord(c) in PRINTABLE for c in message_id)
        and message_id == message_id.strip()  # HTTP trims, and requests refuses, edge spaces
    ):
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()


def storable(text: str) -> str:
    """``text`` as any database keeps it: no NUL (PostgreSQL refuses it), no lone surrogate.

    What Seg, a proxy or an exception says is recorded on the attempt; one odd
    byte in it must not cost the record of the whole batch.
    """
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def post(url: str, payload: object, message_id: str) -> Answer:
    """POST one payload to Seg and classify the answer by its status line.

    Connect, send and answer together take at most SEG_POST_DEADLINE
    (``conf.post_deadline``), whatever pace the server keeps. Once the status
    line is in, the status decides: the body is read only up to BODY_LIMIT
    bytes, and a body that cannot be read (a wrong ``Content-Encoding``, cut
    short, still coming at the deadline) is noted in the answer's error, the
    verdict unchanged. No status line (a network error, the deadline first) is
    a RETRY answer; a request that cannot be built raises (requests'
    InvalidHeader, InvalidURL… are ValueErrors). Redirects are not followed: a
    3xx is not a delivery (requests would follow it with a bodyless GET), and
    its ``Location`` is kept in the answer's error for the operator.
    """
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": idempotency_key(message_id),
    }
    total = conf.post_deadline()
    connect, read = conf.get_setting("SEG_CONNECT_TIMEOUT"), conf.get_setting("SEG_READ_TIMEOUT")
    started = time.perf_counter()
    with deadline.within(total) as budget:
        try:
            parts = urlsplit(url)
            env = environment(f"{parts.scheme}://{parts.netloc}")
            held = session()
            request = requests.Request("POST", url, data=body, headers=headers, auth=env["auth"])
            # Straight to the adapter: it follows no redirect and leaves the body
            # unread (stream), where a session reads a redirect's whole body.
            response = held.get_adapter(url).send(
                held.prepare_request(request),
                stream=True,
                timeout=(min(connect, total), min(read, total)),
                verify=env["verify"],
                cert=env["cert"],
                proxies=env["proxies"],
            )
        except requests.RequestException as exc:
            if isinstance(exc, ValueError):
                # InvalidHeader, InvalidURL, MissingSchema…: the request could not be
                # built. Not the network's doing: the caller records it as such.
                raise
            if budget.passed():
                return Answer.unanswered(exc, f"{late(total)}; {exc}", started)
            return Answer.unanswered(exc, str(exc), started)
        excerpt, problem = read_excerpt(response, budget, total)
    duration = (time.perf_counter() - started) * 1000
    status = response.status_code
    verdict = classify_status(status)
    error = ""
    if verdict is not Verdict.DELIVERED:
        error = f"HTTP {status}: {excerpt[:200]}"
        if response.is_redirect or 300 <= status < 400:
            location = storable(response.headers.get("Location", "(no Location)")[:300])
            error = f"HTTP {status}: redirected to {location}; check SEG_TRACKER_URL."
    if problem:
        error = f"{error} ({problem})" if error else problem
    return Answer(
        verdict,
        status,
        excerpt,
        error_class(status),
        storable(error[:EXCERPT_CHARS]),
        parse_retry_after(response.headers.get("Retry-After"), timezone.now()),
        duration,
    )


def late(total: float) -> str:
    return f"Past the deadline of {total:g}s for the whole post (SEG_POST_DEADLINE)"


def read_excerpt(
    response: requests.Response, budget: deadline.Budget, total: float
) -> tuple[str, str]:
    """The start of ``response``'s body as text (EXCERPT_CHARS at most), and what kept it
    from being read ('' when nothing did). At most BODY_LIMIT bytes are read; the
    connection goes back to its pool only when the body was read to its end."""
    chunks: list[bytes] = []
    size, problem = 0, ""
    try:
        while size < BODY_LIMIT:
            chunk = response.raw.read(min(BODY_CHUNK, BODY_LIMIT - size), decode_content=False)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        if budget.passed():
            problem = f"{late(total)}: the body was cut off after {size} bytes."
        else:
            problem = f"The body was cut short after {size} bytes: {type(exc).__name__}."
    finally:
        response.close()  # unread, the connection cannot carry another request
    if not problem and budget.passed():
        # Headers cut off end where they stop, and a body that runs to the
        # connection's end ends with it: the deadline came first all the same.
        problem = f"{late(total)}: the answer was cut off after {size} bytes of its body."
    data = b"".join(chunks)
    encodings = response.headers.get("Content-Encoding", "")
    try:
        data = decoded(data, encodings)
    except (zlib.error, ValueError) as exc:
        problem = (
            problem
            or f"The body, labelled Content-Encoding: {encodings}, could not be decoded: {exc}"
        )
    charset = response.encoding or "utf-8"
    try:
        text = data.decode(charset, "replace")
    except LookupError:
        text = data.decode("utf-8", "replace")
    return storable(text[:EXCERPT_CHARS]), storable(problem)


def decoded(data: bytes, encodings: str) -> bytes:
    """``data`` undone of its ``Content-Encoding`` (gzip, deflate, identity; the last
    applied first), to a few times EXCERPT_CHARS at most; ValueError for one unknown,
    zlib.error for data that is not what its label says."""
    for name in reversed([e.strip().lower() for e in encodings.split(",") if e.strip()]):
        if name == "identity":
            continue
        if name not in ("gzip", "x-gzip", "deflate"):
            raise ValueError(f"{name} is not read here")
        wbits = 16 + zlib.MAX_WBITS if name != "deflate" else zlib.MAX_WBITS
        if name == "deflate" and data[:1] and data[0] & 0x0F != 8:
            wbits = -zlib.MAX_WBITS  # deflate without the zlib header, as some servers send
        data = zlib.decompressobj(wbits).decompress(data, 8 * EXCERPT_CHARS)
    return data
