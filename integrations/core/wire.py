"""Wire formats: the Segment messages a shop sends and the JSON values they hold."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

# A JSON value as parsed by the json module; kept loose on purpose, since the
# shop decides what goes into properties and traits.
JSON = Any
JSONObject = dict[str, Any]


class SegmentMessage(TypedDict):
    """One Segment call after validation (keys as in Segment's spec)."""

    type: str
    messageId: str
    userId: NotRequired[str]
    anonymousId: NotRequired[str]
    event: NotRequired[str]
    name: NotRequired[str]
    category: NotRequired[str]
    previousId: NotRequired[str]
    traits: NotRequired[JSONObject]
    properties: NotRequired[JSONObject]
    context: NotRequired[JSONObject]
    timestamp: NotRequired[str]
    originalTimestamp: NotRequired[str]
    sentAt: NotRequired[str]
