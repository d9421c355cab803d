"""The HTTP client for Seg's tracker: one session per process, the URL, the POST, the answer.

Every request follows the contract's "Outbound" section (docs/seg-contract.md):
``POST {SEG_TRACKER_URL}/django/{websiteId}/{action}``, a JSON body, an
``Idempotency-Key`` that is always sendable, and no redirect followed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.utils import timezone

from . import USER_AGENT, conf
from .answers import Verdict, classify_status, error_class, parse_retry_after
from .processes import per_process

EXCERPT_CHARS = 500
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
    made = requests.Session()
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


def endpoint(action: str) -> str:
    """The tracker URL for ``action``; it holds the website id, never a secret."""
    return f"{conf.tracker_url()}/django/{conf.website_id()}/{action}"


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
    """POST one payload to Seg and classify the answer.

    Network errors come back as a RETRY answer; a request that cannot be built
    raises (requests' InvalidHeader, InvalidURL… are ValueErrors). Redirects are not
    followed: a 3xx is not a delivery (requests would follow it with a bodyless
    GET), and its ``Location`` is kept in the answer's error for the operator.
    """
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": idempotency_key(message_id),
    }
    timeout = (conf.get_setting("SEG_CONNECT_TIMEOUT"), conf.get_setting("SEG_READ_TIMEOUT"))
    started = time.perf_counter()
    try:
        parts = urlsplit(url)
        response = session().post(
            url,
            data=body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            **environment(f"{parts.scheme}://{parts.netloc}"),
        )
    except requests.RequestException as exc:
        if isinstance(exc, ValueError):
            # InvalidHeader, InvalidURL, MissingSchema…: the request could not be
            # built. Not the network's doing: the caller records it as such.
            raise
        return Answer.unanswered(exc, str(exc), started)
    duration = (time.perf_counter() - started) * 1000
    status = response.status_code
    verdict = classify_status(status)
    excerpt = storable(response.text[:EXCERPT_CHARS])
    error = ""
    if verdict is not Verdict.DELIVERED:
        error = f"HTTP {status}: {excerpt[:200]}"
        if response.is_redirect or 300 <= status < 400:
            location = storable(response.headers.get("Location", "(no Location)")[:300])
            error = f"HTTP {status}: redirected to {location}; check SEG_TRACKER_URL."
    return Answer(
        verdict,
        status,
        excerpt,
        error_class(status),
        error,
        parse_retry_after(response.headers.get("Retry-After"), timezone.now()),
        duration,
    )
