"""Suppressed customers: the keyed hash of an identifier, and refusing their calls at ingest.

An erasure request that suppresses (``integrations.erasure``) stores, for each
email, userId and anonymousId of the customer, only ``digest`` of it: an
HMAC-SHA256 keyed by SEG_ERASURE_KEY, else by a key derived from SECRET_KEY.
Ingest hashes the ids each call names and refuses a call that names a
suppressed one, before anything of it is stored; each refusal only adds one
to its suppression's count. Segment does the same with its suppression of a
deleted user (Segment docs, "User Deletion and Suppression").
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable
from functools import cache

from django.conf import settings
from django.db.models import F
from django.utils.crypto import salted_hmac

from .. import conf
from ..core import JSONObject, SegmentMessage, email_in, normalize_email
from ..models import Suppression

SALT = "integrations.ingest.refusals.digest"

# The kinds of identifier a digest is made of, and a customer is reached by.
EMAIL, USER, ANONYMOUS = "email", "user", "anonymous"


@cache
def _key(secret: str | None, fallback: str) -> bytes:
    if secret:
        return secret.encode("utf-8")
    return salted_hmac(SALT, "key", secret=fallback, algorithm="sha256").digest()


def digest(kind: str, value: str) -> str:
    """The keyed hash of one identifier: 64 hex digits of HMAC-SHA256 over 'kind:value'.

    ``kind`` is EMAIL (give it normalized: ``core.normalize_email``), USER or
    ANONYMOUS. The key is SEG_ERASURE_KEY, else derived from SECRET_KEY: set
    SEG_ERASURE_KEY before rotating SECRET_KEY, or suppressions stop matching.
    """
    key = _key(conf.get_setting("SEG_ERASURE_KEY"), settings.SECRET_KEY)
    return hmac.new(
        key, f"{kind}:{value}".encode("utf-8", "surrogatepass"), hashlib.sha256
    ).hexdigest()


def identifiers(message: SegmentMessage) -> set[tuple[str, str]]:
    """Every (kind, id) a call names: its userId, anonymousId, the email it carries, and
    an alias's previous and new emails."""
    found: set[tuple[str, str]] = set()
    if user_id := message.get("userId"):
        found.add((USER, str(user_id)))
    if anonymous_id := message.get("anonymousId"):
        found.add((ANONYMOUS, str(anonymous_id)))
    for email in (
        email_in(message),
        normalize_email(message.get("previousId")),
        normalize_email(message.get("userId")),
    ):
        if email:
            found.add((EMAIL, email))
    return found


def digests_of(valid: Iterable[tuple[SegmentMessage, JSONObject]]) -> dict[str, list[str]]:
    """Each call's identifier hashes, by messageId (``lookup`` asks which are suppressed)."""
    return {
        message["messageId"]: [digest(kind, value) for kind, value in identifiers(message)]
        for message, _ in valid
    }


def admitted(
    valid: list[tuple[SegmentMessage, JSONObject]],
    digests: dict[str, list[str]],
    suppressed: set[str],
) -> tuple[list[tuple[SegmentMessage, JSONObject]], int]:
    """The calls that name no suppressed identifier, and how many were refused; the
    refusals are counted on their suppressions (one UPDATE per suppression hit), inside
    the caller's transaction. Nothing else of a refused call is kept."""
    if not suppressed:
        return valid, 0
    kept: list[tuple[SegmentMessage, JSONObject]] = []
    hits: Counter[str] = Counter()
    for message, raw in valid:
        named = suppressed.intersection(digests.get(message["messageId"], ()))
        if named:
            hits[min(named)] += 1
        else:
            kept.append((message, raw))
    for hashed, refused in hits.items():
        Suppression.objects.filter(digest=hashed).update(refused=F("refused") + refused)
    return kept, sum(hits.values())
