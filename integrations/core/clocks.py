"""Event times: Segment's rule for device clocks, and what is noted when it applies. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from .values import parse_time, time_problem
from .wire import SegmentMessage


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# What is still ahead of receipt by more than this once the device's clock is
# corrected is taken as received: a timestamp cannot be in the future.
FUTURE_LIMIT = timedelta(minutes=5)
# A device whose clock is off by more than this gets a warning on its events.
SKEW_NOTED = timedelta(minutes=1)


def event_time(message: SegmentMessage, received_at: datetime) -> datetime:
    """The event's time, by Segment's rule for device clocks.

    The device's time is ``timestamp``, else ``originalTimestamp``; with a
    ``sentAt`` (the message's own, as analytics.js sends it, or its batch's)
    it is corrected as ``received_at - (sentAt - device time)``, so a device
    whose clock is off (a phone in the Buddhist calendar, 543 years ahead; one
    reset to 1970) still gives the moment the event happened by this server's
    clock. What is still more than FUTURE_LIMIT ahead of receipt, and an event
    with no readable time, takes ``received_at``.
    """
    device = parse_time(message.get("timestamp")) or parse_time(message.get("originalTimestamp"))
    if device is None:
        return received_at
    sent = parse_time(message.get("sentAt"))
    if sent is not None:
        try:
            device = received_at - (sent - device)
        except OverflowError:
            return received_at
    return received_at if device > received_at + FUTURE_LIMIT else device


def time_warnings(message: SegmentMessage, received_at: datetime) -> list[str]:
    """Warnings for times that are present but unreadable, for a device clock that
    was off (and corrected by ``sentAt``), and for a time still in the future."""
    given = {
        "timestamp": message.get("timestamp"),
        "originalTimestamp": message.get("originalTimestamp"),
        "sentAt": message.get("sentAt"),
    }
    warnings = [
        f"{key} {value!r} {problem}; it was not used."
        for key, value in given.items()
        if value and (problem := time_problem(value))
    ]
    sent = parse_time(message.get("sentAt"))
    device = parse_time(message.get("timestamp")) or parse_time(message.get("originalTimestamp"))
    if sent is not None and device is not None and abs(sent - received_at) > SKEW_NOTED:
        warnings.append(
            f"The sender's clock was off by {_span(sent - received_at)} (sentAt {given['sentAt']!r}"
            f" on receipt at {iso_utc(received_at)}); the event's time was corrected by it."
        )
    moment = event_time(message, received_at)
    if device is not None and moment == received_at and device > received_at + FUTURE_LIMIT:
        warnings.append(
            "The event's time was in the future even after any correction; it takes its "
            "receipt time."
        )
    return warnings


def _span(delta: timedelta) -> str:
    sign = "-" if delta < timedelta(0) else "+"
    seconds = abs(delta).total_seconds()
    if seconds >= 2 * 86400:
        return f"{sign}{seconds / 86400:,.0f} days"
    return f"{sign}{seconds:,.0f} s"
