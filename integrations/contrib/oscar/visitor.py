"""Who the visitor is and where they are: analytics.js's anonymous id, the user, the page.

analytics.js (analytics-next) keeps the visitor's anonymous id in the
``ajs_anonymous_id`` cookie, JSON-encoded and then percent-encoded by
js-cookie (``%22abc%22`` for ``"abc"``); older versions and other clients
wrote the id bare. ``anonymous_id`` reads both, as analytics-next's own
``CookieStorage.get`` does. Oscar's ``order_placed`` signal carries no
request, so ``VisitorMiddleware`` keeps the current one for its receiver.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from urllib.parse import unquote

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

from ... import conf
from ...core import JSONObject
from ...web import website_of

COOKIE = "ajs_anonymous_id"
# Segment's own limit on an id's length is loose; a cookie past this is not one.
LONGEST = 200
# What a request raises when it cannot name its host: DisallowedHost for a Host
# outside ALLOWED_HOSTS, KeyError for a META without SERVER_NAME or SERVER_PORT
# (and no Host header), as in the bare HttpRequest() through which Django's
# test client logs in.
NO_HOST = (DisallowedHost, KeyError)

_current: ContextVar[HttpRequest | None] = ContextVar("seg_oscar_request", default=None)


def anonymous_id(request: HttpRequest | None) -> str | None:
    """The analytics.js anonymous id in ``request``'s cookies, or None.

    ``%22abc%22``, ``"abc"`` and ``abc`` all give ``abc``; a JSON number gives
    its digits; an empty, ``null`` or overlong value gives None.
    """
    if request is None:
        return None
    raw = request.COOKIES.get(COOKIE)
    if not raw:
        return None
    text = unquote(raw).strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > LONGEST:
        return None
    return value.strip()


def user_id(user: object) -> str | None:
    """The Segment userId of a Django user: its primary key as text; None when anonymous,
    and for a staff member or superuser unless SEG_IDENTIFY_STAFF (``conf.identifies``):
    their calls then describe the browser's anonymous visitor, never name it."""
    if not conf.identifies(user):
        return None
    return str(getattr(user, "pk", "")) or None


def page_url(request: HttpRequest, location: str | None = None) -> str | None:
    """``location`` (else the URL ``request`` asked for) made absolute against
    ``request``'s host; None when ``request`` cannot name its host."""
    try:
        return request.build_absolute_uri(location)
    except NO_HOST:
        return None


def context(request: HttpRequest | None) -> JSONObject:
    """Segment's ``context`` for a call made while serving ``request``: page and user agent.

    Each part ``request`` cannot give is left out: the page's ``url`` when it
    cannot name its host, its ``path`` when empty (Django's test client logs
    in through a bare HttpRequest, with neither).
    """
    if request is None:
        return {}
    page: JSONObject = {}
    if url := page_url(request):
        page["url"] = url
    if request.path:
        page["path"] = request.path
    if referrer := request.headers.get("referer"):
        page["referrer"] = referrer
    found: JSONObject = {"page": page} if page else {}
    if agent := request.headers.get("user-agent"):
        found["userAgent"] = agent
    return found


def current_request() -> HttpRequest | None:
    """The request being served in this thread or task, when VisitorMiddleware is installed."""
    return _current.get()


class VisitorMiddleware:
    """Keeps the current request for receivers whose signal carries none (``order_placed``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current.set(request)
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)


def website(request: HttpRequest | None, order: object = None) -> str:
    """The Seg Website Id a receiver's calls go to: the order's site's in SEG_WEBSITES
    (Oscar's ``Order.site``), else the request's (``web.website_of``), else
    SEG_WEBSITE_ID."""
    mapping = conf.websites()
    site = getattr(order, "site", None) if order is not None and mapping else None
    if site is not None and (site.pk in mapping or site.domain in mapping):
        return conf.website_for(site=site)
    if request is not None and mapping:
        return website_of(request, None)
    return conf.website_for()
