"""The errors this app raises; the class decides the outcome."""

from __future__ import annotations

from django.core.exceptions import BadRequest, ImproperlyConfigured


class SegError(Exception):
    """Base of every error raised by this app."""


class SegConfigurationError(SegError, ImproperlyConfigured):
    """A setting is missing or malformed; the message names the setting."""


class Refused(SegError):
    """A request the ingestion endpoint refuses: the class decides its HTTP status and
    code, and ``field`` names the culprit when there is one."""

    status = 400
    code = "refused"
    field: str | None = None


class InvalidMessage(Refused, BadRequest):
    """A Segment message that cannot be stored. ``field`` names the culprit."""

    code = "invalid_message"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidRequest(InvalidMessage):
    """A request body that is not JSON, or not a message or batch."""

    code = "invalid_request"


class PayloadTooLarge(InvalidMessage):
    """A request or message over Segment's size limits, or a browser key's request over
    the messages one bucket holds (SEG_BROWSER_BURST)."""

    status = 413
    code = "payload_too_large"


class Unauthorized(Refused):
    """A missing or wrong write key."""

    status = 401
    code = "unauthorized"


class ErasureError(SegError, ValueError):
    """An erasure request that cannot be carried out as asked: no customer named, an
    email that is not one, or an identity graph too wide to be one customer's."""


def rule_broken(error: Exception) -> str:
    """What a record that outlives a customer's erasure may keep of ``error``: the rule
    broken, never a value. An ``InvalidMessage`` reads as it is (the spec's refusals name
    the field and the limit, not what the call held); any other error by its class alone,
    since its text may quote anything."""
    if isinstance(error, InvalidMessage):
        return str(error)[:500]
    return f"{type(error).__name__} (its text is not kept: it may quote a call's values)"
