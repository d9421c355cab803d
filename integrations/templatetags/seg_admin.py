"""Template tags for the admin: the sandbox banner, and moments written as the app
writes them (``{{ attempt.started_at|seg_time }}``).

The app's own admin pages show it. A site shows it on every admin page with one
line in its ``admin/base_site.html`` (see the README)::

    {% block header %}{% load seg_admin %}{% seg_sandbox_banner %}{{ block.super }}{% endblock %}
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from django import template

from .. import conf, operating

register = template.Library()

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

# Set in the render context once a page has its banner.
SHOWN = "seg_sandbox_banner_shown"


def tracker_is_local() -> bool:
    """True when deliveries go to a server on this machine (the sandbox), not to Seg."""
    host = urlsplit(conf.tracker_url()).hostname or ""
    return host in LOOPBACK or host.startswith("127.")


@register.inclusion_tag("integrations/sandbox_banner.html", takes_context=True)
def seg_sandbox_banner(context: template.Context) -> dict[str, object]:
    """The banner while deliveries go to this machine; once a page, though both the
    app's page and the site's base_site.html ask for it."""
    first = not context.render_context.get(SHOWN, False)
    context.render_context[SHOWN] = True
    return {"sandbox": first and tracker_is_local(), "tracker_url": conf.tracker_url()}


@register.filter
def seg_time(value: datetime | None) -> str:
    """A moment as ``operating.shown`` writes it; nothing for None."""
    return "" if value is None else operating.shown(value)


@register.filter
def seg_ago(value: datetime | None) -> str:
    """How long ago a moment was, as ``operating.ago`` says it; nothing for None."""
    return "" if value is None else operating.ago(value)
