"""Template tags for the admin: the sandbox banner."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import template

from .. import conf

register = template.Library()

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def tracker_is_local() -> bool:
    """True when deliveries go to a server on this machine (the sandbox), not to Seg."""
    host = urlsplit(conf.tracker_url()).hostname or ""
    return host in LOOPBACK or host.startswith("127.")


@register.inclusion_tag("integrations/sandbox_banner.html")
def seg_sandbox_banner() -> dict[str, object]:
    return {"sandbox": tracker_is_local(), "tracker_url": conf.tracker_url()}
