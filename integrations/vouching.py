"""How the shop's server vouches for a page: an HMAC of the userId, carried by the identify.

A browser write key is public, so a page's claim that it is user 42 proves
nothing. As Intercom's and Crisp's identity verification do, the shop's server
signs the userId it rendered the page for (the ``{% seg_analytics %}`` tag does
it), and the page sends the signature with its identify as
``integrations.Seg.userHash`` (analytics.js keeps a per-call ``integrations``
object as it is, as for ``integrations.Intercom.user_hash``). A page call that
carries a valid signature speaks with the server's authority for that userId.
"""

from __future__ import annotations

import hmac

from django.utils.crypto import salted_hmac

from . import conf
from .wire import JSONObject

SALT = "integrations.vouching.user_hash"


def user_hash(user_id: str) -> str:
    """The signature of ``user_id``: HMAC-SHA256 (hex, 64 characters) keyed by
    SEG_IDENTITY_SECRET, else by Django's SECRET_KEY (Django's ``salted_hmac``)."""
    secret = conf.get_setting("SEG_IDENTITY_SECRET") or None
    return salted_hmac(SALT, user_id, secret=secret, algorithm="sha256").hexdigest()


def carried_hash(message: JSONObject) -> str | None:
    """``integrations.Seg.userHash`` of a message as sent, when it is a string."""
    integrations = message.get("integrations")
    seg = integrations.get("Seg") if isinstance(integrations, dict) else None
    value = seg.get("userHash") if isinstance(seg, dict) else None
    return value if isinstance(value, str) else None


def vouched(user_id: str | None, message: JSONObject) -> bool:
    """True when ``message`` (as sent) carries a valid signature of ``user_id``, its
    validated userId (constant time)."""
    carried = carried_hash(message)
    if not user_id or carried is None:
        return False
    return hmac.compare_digest(
        carried.encode("utf-8", "surrogatepass"), user_hash(user_id).encode()
    )
