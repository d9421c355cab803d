"""CORS for every endpoint of the mount: which origins may read the answers, and
which request headers a preflight allows.

Rules (Fetch standard, "CORS protocol"): with SEG_ALLOWED_ORIGINS unset every
origin gets ``Access-Control-Allow-Origin: *``, which browsers never combine
with credentials. With it set, a listed ``Origin`` is echoed with
``Access-Control-Allow-Credentials: true`` (so ``credentials: 'include'``
works), any other origin gets no CORS header at all, and every answer says
``Vary: Origin`` so that no cache hands one origin's answer to another.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers

from .. import conf

# Headers a preflight may ask for. What Segment's clients send:
# analytics.js (Content-Type, Authorization, X-Retry-Count on every retry),
# analytics-node (also User-Agent), gzip bodies (Content-Encoding).
ALLOWED_HEADERS = frozenset(
    {"authorization", "content-type", "content-encoding", "x-retry-count", "user-agent", "accept"}
)
# Chromium caps a preflight's cache at 2 hours, Firefox at 24.
MAX_AGE = "7200"

View = Callable[..., HttpResponseBase]


def allowed_origin(origin: str | None) -> str | None:
    """The value of ``Access-Control-Allow-Origin`` for ``origin``; None for no CORS answer."""
    allowed = conf.allowed_origins()
    if not allowed:
        return "*"
    if origin and origin.rstrip("/") in allowed:
        return origin
    return None


def allowed_headers(requested: str | None) -> str:
    """The headers of ``Access-Control-Request-Headers`` that ALLOWED_HEADERS holds,
    as the browser named them."""
    names = (name.strip() for name in (requested or "").split(","))
    return ", ".join(name for name in names if name.lower() in ALLOWED_HEADERS)


def add_headers(request: HttpRequest, response: HttpResponseBase) -> None:
    """Add the CORS headers this request's ``Origin`` earns to ``response``."""
    if conf.allowed_origins():
        patch_vary_headers(response, ("Origin",))
    origin = allowed_origin(request.headers.get("Origin"))
    if origin is None:
        return
    response["Access-Control-Allow-Origin"] = origin
    if origin != "*":
        response["Access-Control-Allow-Credentials"] = "true"
    response["Access-Control-Expose-Headers"] = "Retry-After"


def preflight(request: HttpRequest, methods: str) -> HttpResponse:
    """204 for an ``OPTIONS`` preflight: the methods, and the asked headers the safe list holds."""
    response = HttpResponse(status=204)
    add_headers(request, response)
    if "Access-Control-Allow-Origin" in response:
        response["Access-Control-Allow-Methods"] = methods
        headers = allowed_headers(request.headers.get("Access-Control-Request-Headers"))
        if headers:
            response["Access-Control-Allow-Headers"] = headers
        response["Access-Control-Max-Age"] = MAX_AGE
    patch_vary_headers(response, ("Access-Control-Request-Headers",))
    return response


def cors(*methods: str) -> Callable[[View], View]:
    """Decorate a view: answer its preflights, add CORS headers to its answers.

    ``methods`` are the methods the view takes (``OPTIONS`` is added).
    """
    allow = ", ".join([*methods, "OPTIONS"])

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
            if request.method == "OPTIONS":
                return preflight(request, allow)
            response = view(request, *args, **kwargs)
            add_headers(request, response)
            return response

        return wrapped

    return decorate
