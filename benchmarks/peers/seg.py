"""The Seg client a shop writes for itself, shared by both peers: map with the app's code, POST.

The payload comes from ``integrations.payloads`` (the same pure mapping the app
uses), so every peer posts the same JSON to the same sandbox endpoint; the POST
is the one Seg's documentation shows, with the ``Idempotency-Key`` it asks for.
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings
from django.utils import timezone

from integrations.core import email_in, validate
from integrations.core.payloads import map_message


def post(message: dict[str, Any]) -> None:
    """Map one Segment message to Seg's payload and POST it; raises for a non-2xx answer."""
    valid = validate(message)
    mapping = map_message(valid, email_in(valid), timezone.now())
    if mapping.action is None:
        return
    response = requests.post(
        f"{settings.SEG_TRACKER_URL}/django/{settings.SEG_WEBSITE_ID}/{mapping.action.value}",
        json=mapping.payload,
        headers={"Idempotency-Key": valid["messageId"]},
        timeout=(5, 15),
    )
    response.raise_for_status()
