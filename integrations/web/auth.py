"""Write-key authentication, as Segment's HTTP API does it."""

from __future__ import annotations

import base64
import hmac
from enum import StrEnum

from .. import conf
from ..exceptions import Unauthorized


def key_from_header(authorization: str | None) -> str | None:
    """The write key in an ``Authorization: Basic`` header (user name, empty password)."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("Use HTTP Basic auth with the write key as the user name.")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError, or text outside ASCII
        raise Unauthorized("The Authorization header is not valid Basic auth.") from exc
    return decoded.partition(":")[0]


class KeyKind(StrEnum):
    """Who holds a write key: a server (SEG_WRITE_KEYS, secret) or pages
    (SEG_BROWSER_WRITE_KEYS, public)."""

    SERVER = "server"
    BROWSER = "browser"


def check_key(candidate: object) -> KeyKind:
    """The kind of write key ``candidate`` is; Unauthorized when it is none.

    Compares against every key of both lists in constant time, so timing
    tells nothing. A key in both lists (check E102) counts as a browser key,
    the kind with the narrower rights.
    """
    if not isinstance(candidate, str) or not candidate:
        raise Unauthorized("A write key is required (Basic auth user name, or writeKey).")
    given = candidate.encode("utf-8", "surrogatepass")
    server = browser = False
    for key in conf.write_keys():
        server |= hmac.compare_digest(given, key.encode("utf-8"))
    for key in conf.browser_write_keys():
        browser |= hmac.compare_digest(given, key.encode("utf-8"))
    if browser:
        return KeyKind.BROWSER
    if server:
        return KeyKind.SERVER
    raise Unauthorized("The write key is not valid.")


def is_browser_key(candidate: str) -> bool:
    """True when ``candidate`` is one of SEG_BROWSER_WRITE_KEYS (constant time)."""
    try:
        return check_key(candidate) is KeyKind.BROWSER
    except Unauthorized:
        return False
