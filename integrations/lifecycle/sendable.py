"""What an event needs to be sent to Seg: an email, an action and a payload that carries
the email. Seg is never sent an event without them, whatever moves it."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from ..models import ErasureRequest

# What a row needs before any move makes it pending: Seg is never sent an event
# without an email, or with nothing to send.
SENDABLE = (
    ~Q(email="")
    & ~Q(action="")
    & Q(payload__has_key="Email")
    & ~Q(payload__Email="")
    & ~Q(payload__Email=None)
)
NOT_SENT = "Not sent to Seg: {}; Seg is never sent an event without an email and a payload."


def unsendable(email: str, payload: Any, action: str) -> str | None:
    """Why an event with these values cannot be sent to Seg, or None when it can. Pure.

    It needs an email, an action (the tracker endpoint) and a payload that is
    an object whose ``Email`` is not blank.
    """
    if not email:
        return "it has no email"
    if not action or not isinstance(payload, dict):
        return "it has nothing to send (no payload or action)"
    if not payload.get("Email"):
        return "its payload has no email"
    return None


def erasing() -> bool:
    """Whether a customer's erasure is under way (an ErasureRequest not finished); one
    small query. A worker that reads it true after its claim checks, just before each
    post, that it still holds the claim; the erasure waits out the claims made before it
    began, and revokes the later ones (``integrations.erasure.deletion``)."""
    return ErasureRequest.objects.filter(finished_at=None).exists()
