"""Where browsers reach this app: the shop's public origin and the mount's URLs.

The origin is SEG_PUBLIC_ORIGIN when set (a shop behind a proxy that does not
pass the host and scheme on), else the request's own (``request.scheme`` and
``get_host()``, which honour Django's SECURE_PROXY_SSL_HEADER and
USE_X_FORWARDED_HOST). The mount is where the shop included
``integrations.urls`` (``/seg`` in the example project).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.urls import reverse

from .. import conf

METRICS_NAME = "integrations:metrics"
METRICS_TAIL = "/v1/m"


@dataclass(frozen=True)
class Mount:
    """The mount as browsers see it: ``scheme`` (http or https), ``host``
    (with its port, if any) and ``path`` (``/seg``, no trailing slash)."""

    scheme: str
    host: str
    path: str

    @property
    def url(self) -> str:
        """The mount's absolute URL, ``https://shop.example/seg``: analytics.js's CDN."""
        return f"{self.scheme}://{self.host}{self.path}"

    @property
    def api_host(self) -> str:
        """``shop.example/seg/v1``: the ``apiHost`` of analytics.js's Segment.io integration
        (host and path, no scheme)."""
        return f"{self.host}{self.path}/v1"


def mount(request: HttpRequest) -> Mount:
    """The mount for this request; SEG_PUBLIC_ORIGIN over the request's own origin."""
    path = reverse(METRICS_NAME).removesuffix(METRICS_TAIL)
    public = conf.get_setting("SEG_PUBLIC_ORIGIN")
    if public:
        parts = urlsplit(str(public))
        return Mount(parts.scheme, parts.netloc, path)
    return Mount(request.scheme or "http", request.get_host(), path)
