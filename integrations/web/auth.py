"""Write-key authentication, as Segment's HTTP API does it."""

from __future__ import annotations

import base64
import contextlib
import hmac
from enum import StrEnum
from typing import Any

from django.contrib.sites.requests import RequestSite
from django.contrib.sites.shortcuts import get_current_site
from django.core.exceptions import DisallowedHost, ObjectDoesNotExist
from django.http import HttpRequest

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


def website_of(request: HttpRequest, key: str | None) -> str:
    """The Seg Website Id a request's calls go to: its write key's in SEG_WEBSITES, else
    its site's (``django.contrib.sites``' current site when installed, by id then domain;
    else the request's host as the domain), else SEG_WEBSITE_ID (``conf.website_for``)."""
    mapping = conf.websites()
    if not mapping or (key and key in mapping):
        return conf.website_for(key=key)
    try:
        site: Any = get_current_site(request)
    except (ObjectDoesNotExist, DisallowedHost, KeyError):
        # No Site for this host (SITE_ID unset), or no host at all (a bare HttpRequest,
        # KeyError): the host, when there is one, may still name a website as a domain.
        site = None
        with contextlib.suppress(DisallowedHost, KeyError):
            site = RequestSite(request)
    return conf.website_for(key=key, site=site)
