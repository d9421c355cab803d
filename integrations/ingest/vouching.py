"""How the shop's server vouches for a page: a signed userId (and email) the page carries.

A browser write key is public, so a page's claim that it is user 42 proves
nothing. As Intercom's and Crisp's identity verification do, the shop's server
signs the userId it rendered the page for, with the customer's email, and the
page sends the signature with its calls as ``integrations.Seg.userHash``
(analytics.js keeps a per-call ``integrations`` object as it is, as for
``integrations.Intercom.user_hash``). ``{% seg_analytics %}`` renders it and
stamps it on every call of a logged-in customer's page.

The signature is Django's ``signing.dumps`` (HMAC-SHA256, keyed by
SEG_IDENTITY_SECRET, else SECRET_KEY with SECRET_KEY_FALLBACKS, salt ``SALT``)
of ``{"u": userId, "e": email}``, with the time it was made: it is valid for
SEG_SIGNATURE_MAX_AGE, so a leaked one stops working.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core import signing

from .. import conf
from ..core import JSONObject, normalize_email

SALT = "integrations.vouching.user_hash"

# What an event notes when a page spoke beyond what the server vouches for.
UNVOUCHED = (
    "userId {user_id!r} was sent with a browser key and not vouched for by the shop's server "
    "(no valid integrations.Seg.userHash made for it, SEG_SIGNATURE_MAX_AGE): the event "
    "speaks for its anonymous visitor only."
)
UNSIGNED_EMAIL = "{email} is not the email the page's signature was made with; it was not used."
KNOWN_EMAIL = (
    "{email} is a customer the shop's server knows; a page without the server's word "
    "(a signed identify) may not speak for them, so the email was not used."
)


@dataclass(frozen=True)
class Voucher:
    """What a valid signature says: the page is this user, with this email ('' for none)."""

    user_id: str
    email: str


def user_hash(user_id: str, email: str | None = None) -> str:
    """The signature a page of ``user_id`` (with ``email``) carries, made now."""
    payload = {"u": str(user_id), "e": normalize_email(email) or ""}
    secret = conf.get_setting("SEG_IDENTITY_SECRET") or None
    return signing.dumps(payload, key=secret, salt=SALT, compress=True)


def carried_hash(message: JSONObject) -> str | None:
    """``integrations.Seg.userHash`` of a message as sent, when it is a string."""
    integrations = message.get("integrations")
    seg = integrations.get("Seg") if isinstance(integrations, dict) else None
    value = seg.get("userHash") if isinstance(seg, dict) else None
    return value if isinstance(value, str) else None


def voucher(user_id: str | None, message: JSONObject) -> Voucher | None:
    """What the signature ``message`` (as sent) carries says, when it is valid, younger
    than SEG_SIGNATURE_MAX_AGE, and made for ``user_id`` (its validated userId)."""
    carried = carried_hash(message)
    if not user_id or carried is None or len(carried) > 1000:
        return None
    secret = conf.get_setting("SEG_IDENTITY_SECRET") or None
    max_age: timedelta = conf.get_setting("SEG_SIGNATURE_MAX_AGE")
    try:
        said = signing.loads(carried, key=secret, salt=SALT, max_age=max_age)
    except (signing.BadSignature, ValueError):
        return None
    if not isinstance(said, dict) or said.get("u") != user_id:
        return None
    email = said.get("e")
    return Voucher(user_id, email if isinstance(email, str) else "")
