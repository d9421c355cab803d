"""The analytics.js tag: Segment's standard snippet, configured for this shop.

In a base template::

    {% load seg_analytics %}{% seg_analytics %}

It loads analytics.js from the shop's own mount (``analytics._cdn``), with the
first of SEG_BROWSER_WRITE_KEYS, calls ``identify(user id, {email})`` for a
logged-in customer (a staff member or superuser only with SEG_IDENTIFY_STAFF:
``conf.identifies``), signed by the server so the app knows the page speaks for that
user (``integrations.vouching``; a source middleware stamps the signature on
every call), and ``page()`` on every page. analytics.js's query-string API
(``?ajs_aid=``, ``?ajs_uid=``, ``?ajs_event=``) is off: a link must not choose a
visitor's anonymousId or make their browser send calls. Every value reaches the page as
JSON inside ``<script type="application/json">`` (Django's ``json_script``,
which escapes ``<``, ``>`` and ``&``, so neither ``</script>`` nor ``<!--`` can
end or bend the element; U+2028 is legal in JSON and in JavaScript strings),
read by ``JSON.parse``: no value is ever written into code.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from .. import conf, ingest
from ..exceptions import SegConfigurationError
from ..web import mount

register = template.Library()

NO_REQUEST = (
    "{% seg_analytics %} needs the request in the template context: add "
    '"django.template.context_processors.request" to the context_processors of '
    "TEMPLATES, and render with a request (render(request, ...))."
)
NO_KEY = (
    "{% seg_analytics %} needs a browser write key: set SEG_BROWSER_WRITE_KEYS "
    "(public keys for pages, never one of SEG_WRITE_KEYS)."
)


def snippet_config(request: Any) -> dict[str, Any]:
    """What the snippet reads: ``writeKey``, ``cdn`` (the mount's absolute URL) and
    ``identify`` (``{"userId", "traits": {"email"}, "options"}`` for a logged-in user
    that ``conf.identifies``, else None: a staff session is not the shopper's).
    ``options`` carries ``integrations.Seg.userHash``, the server's signature of the
    userId and email (``ingest.user_hash``): the snippet stamps it on every call of the
    page, which may then speak for that user.

    Raises SegConfigurationError without a browser key.
    """
    keys = conf.browser_write_keys()
    if not keys:
        raise SegConfigurationError(NO_KEY)
    user = getattr(request, "user", None)
    identify = None
    if user is not None and conf.identifies(user):
        traits = {"email": user.email} if getattr(user, "email", "") else {}
        user_id = str(user.pk)
        signature = ingest.user_hash(user_id, getattr(user, "email", "") or None)
        options = {"integrations": {"Seg": {"userHash": signature}}}
        identify = {"userId": user_id, "traits": traits, "options": options}
    return {"writeKey": keys[0], "cdn": mount(request).url, "identify": identify}


@register.simple_tag(takes_context=True)
def seg_analytics(context: template.Context) -> SafeString:
    """Segment's snippet for this page; SegConfigurationError without a request or a key."""
    request = context.get("request")
    if request is None:
        raise SegConfigurationError(NO_REQUEST)
    html = render_to_string("integrations/seg_analytics.html", {"config": snippet_config(request)})
    return SafeString(html)
