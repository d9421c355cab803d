"""Write-key authentication, as Segment's HTTP API does it."""

from __future__ import annotations

import base64
import hmac

from . import conf
from .exceptions import Unauthorized


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


def check_key(candidate: object) -> None:
    """Raise Unauthorized unless ``candidate`` is one of SEG_WRITE_KEYS.

    Compares against every key in constant time, so timing tells nothing.
    """
    if not isinstance(candidate, str) or not candidate:
        raise Unauthorized("A write key is required (Basic auth user name, or writeKey).")
    given = candidate.encode("utf-8", "surrogatepass")
    matched = False
    for key in conf.write_keys():
        matched |= hmac.compare_digest(given, key.encode("utf-8"))
    if not matched:
        raise Unauthorized("The write key is not valid.")
