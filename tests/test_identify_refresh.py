"""An identify is sent once per change: one that tells Seg what it accepted last for the
email, within SEG_IDENTIFY_REFRESH, is stored as unchanged and not posted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from integrations import api
from integrations.delivery import loop as delivery
from integrations.dev import Sandbox
from integrations.models import Event, Status

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


def identify(traits: dict[str, Any], anonymous_id: str = "a1") -> Event:
    message_id = api.identify(
        "42", {"email": "ann@example.com", **traits}, anonymous_id=anonymous_id
    )
    return Event.objects.get(message_id=message_id)


def test_the_same_identify_again_is_stored_as_unchanged_and_not_sent(sandbox: Sandbox) -> None:
    first = identify({"name": "Ann Smith"})
    assert delivery.deliver(first.pk) is not None
    again = identify({"name": "Ann Smith"}, anonymous_id="another-browser")
    assert again.status == Status.UNCHANGED and again.status_reason.startswith("Unchanged")
    assert delivery.deliver(again.pk) is None
    assert len(sandbox.snapshot()) == 1


def test_a_changed_field_is_sent(sandbox: Sandbox) -> None:
    first = identify({"name": "Ann Smith"})
    delivery.deliver(first.pk)
    changed = identify({"name": "Ann Jones"})
    assert changed.status == Status.PENDING
    assert delivery.deliver(changed.pk) is not None
    assert len(sandbox.snapshot()) == 2


def test_only_what_seg_accepted_counts_and_only_within_the_refresh(
    sandbox: Sandbox, seg_settings: Any
) -> None:
    first = identify({"name": "Ann Smith"})
    # Not yet accepted by Seg: the next one is sent.
    assert identify({"name": "Ann Smith"}).status == Status.PENDING
    delivery.deliver(first.pk)
    Event.objects.filter(pk=first.pk).update(delivered_at=timezone.now() - timedelta(hours=25))
    assert identify({"name": "Ann Smith"}).status == Status.PENDING
    seg_settings.SEG_IDENTIFY_REFRESH = 0
    Event.objects.filter(pk=first.pk).update(delivered_at=timezone.now())
    assert identify({"name": "Ann Smith"}).status == Status.PENDING


def test_the_tags_identify_on_every_page_is_sent_once(sandbox: Sandbox) -> None:
    statuses = []
    for _ in range(5):
        event = identify({})
        statuses.append(event.status)
        if event.status == Status.PENDING:
            delivery.deliver(event.pk)
    assert statuses == [Status.PENDING] + [Status.UNCHANGED] * 4
    assert len(sandbox.snapshot()) == 1
