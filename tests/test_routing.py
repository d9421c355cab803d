"""Segment's routing rules: what the shop (integrations object) or the visitor (consent)
withheld is stored, shown with its reason, and never sent."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from integrations import api
from integrations.core.routing import consent_withheld, integrations_withheld
from integrations.delivery import loop as delivery
from integrations.lifecycle import operations
from integrations.models import Event, Status

from .conftest import BROWSER_KEY, WRITE_KEY

AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
ORDER = {
    "userId": "u1",
    "event": "Order Completed",
    "properties": {"order_id": "R1", "total": 10},
    "context": {"traits": {"email": "ann@example.com"}},
}


@pytest.mark.parametrize(
    ("integrations", "sent"),
    [
        ({}, True),
        ({"All": False}, False),
        ({"all": False}, False),
        ({"ALL": False}, False),
        ({"Seg": False}, False),
        ({"seg": False}, False),
        ({"All": True, "Seg": False}, False),
        ({"All": False, "Seg": True}, True),
        ({"All": False, "Seg": {"someSetting": 1}}, True),
        ({"All": False, "Seg": {}}, True),
        ({"Seg": "false"}, True),  # a settings value, not a boolean: on, as facade reads it
        ({"All": "false"}, True),  # not a boolean: the default stands
        ({"Mailchimp": False}, True),
        ({"All": False, "Mailchimp": True}, False),
    ],
)
def test_the_integrations_object_as_segments_facade_reads_it(
    integrations: dict[str, Any], sent: bool
) -> None:
    assert (integrations_withheld({"integrations": integrations}) is None) is sent


CATEGORIES = ["Marketing", "C0004"]


@pytest.mark.parametrize(
    ("context", "sent"),
    [
        ({}, True),  # no consent object: not enforced
        ({"consent": {}}, False),  # a consent object without preferences: all false
        ({"consent": {"categoryPreferences": {}}}, False),
        ({"consent": {"categoryPreferences": {"Marketing": True, "C0004": True}}}, True),
        ({"consent": {"categoryPreferences": {"Marketing": True, "C0004": False}}}, False),
        ({"consent": {"categoryPreferences": {"Marketing": True}}}, False),
        ({"consent": {"categoryPreferences": {"Marketing": "true", "C0004": True}}}, False),
    ],
)
def test_consent_as_segment_consent_management_reads_it(
    context: dict[str, Any], sent: bool
) -> None:
    assert (consent_withheld({"context": context}, CATEGORIES) is None) is sent
    assert consent_withheld({"context": context}, []) is None  # no categories: no enforcement


def post(client: Client, path: str, body: Any, **extra: Any) -> Any:
    return client.post(
        f"/seg/v1/{path}", data=json.dumps(body), content_type="application/json", **extra
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        ORDER | {"integrations": {"All": False}},
        ORDER | {"integrations": {"Seg": False}},
        ORDER | {"context": ORDER["context"] | {"consent": {"categoryPreferences": {}}}},
    ],
    ids=["All false", "Seg false", "no consent"],
)
def test_a_withheld_order_is_stored_never_sent_and_no_action_sends_it(
    client: Client, seg_settings: Any, sandbox: Any, body: dict[str, Any]
) -> None:
    seg_settings.SEG_CONSENT_CATEGORIES = ["Marketing"]
    assert post(client, "track", body | {"messageId": "w1"}, **AUTH).status_code == 200
    event = Event.objects.get(message_id="w1")
    assert event.status == Status.WITHHELD and event.status_reason.startswith("Withheld by")
    assert event.message == body | {"messageId": "w1"}
    events = Event.objects.filter(pk=event.pk)
    for act in (operations.retry, operations.replay, operations.unsuppress):
        act(events, "admin")
    assert delivery.deliver(event.pk) is None
    event.refresh_from_db()
    assert event.status == Status.WITHHELD and sandbox.snapshot() == []


@pytest.mark.django_db
def test_a_batchs_own_integrations_object_applies_to_its_messages(client: Client) -> None:
    batch = {
        "batch": [
            ORDER | {"type": "track", "messageId": "b1"},
            ORDER | {"type": "track", "messageId": "b2", "integrations": {"Seg": True}},
        ],
        "integrations": {"All": False},
    }
    assert post(client, "batch", batch, **AUTH).status_code == 200
    statuses = dict(Event.objects.values_list("message_id", "status"))
    assert statuses == {"b1": Status.WITHHELD, "b2": Status.PENDING}


@pytest.mark.django_db
def test_the_settings_carry_consent_settings_for_analytics_js_wrappers(
    client: Client, seg_settings: Any
) -> None:
    got = client.get(f"/seg/v1/projects/{BROWSER_KEY}/settings").json()
    assert "consentSettings" not in got
    seg_settings.SEG_CONSENT_CATEGORIES = "Marketing,C0004"
    got = client.get(f"/seg/v1/projects/{BROWSER_KEY}/settings").json()
    assert got["consentSettings"] == {
        "allCategories": ["Marketing", "C0004"],
        "hasUnmappedDestinations": False,
    }


@pytest.mark.django_db
def test_an_operator_sees_why_an_event_was_withheld(client: Client, seg_settings: Any) -> None:
    seg_settings.SEG_CONSENT_CATEGORIES = ["Marketing"]
    by_shop = {"order_id": "R-BY-THE-SHOP", "total": 1}
    by_visitor = {"order_id": "R-BY-THE-VISITOR", "total": 1}
    withheld = {"All": False}
    post(client, "track", ORDER | {"properties": by_shop, "integrations": withheld}, **AUTH)
    consent = ORDER["context"] | {"consent": {"categoryPreferences": {"Marketing": False}}}
    post(
        client,
        "track",
        ORDER | {"messageId": "c1", "properties": by_visitor, "context": consent},
        **AUTH,
    )
    admin = User.objects.create_superuser("op", "op@example.com", "pw")
    client.force_login(admin)
    base = "/admin/integrations/event/"
    page = client.get(f"{base}{Event.objects.get(message_id='c1').pk}/change/").content.decode()
    assert "Withheld by consent" in page
    by_integrations = client.get(f"{base}?withheld_by=integrations").content.decode()
    assert "R-BY-THE-SHOP" in by_integrations and "R-BY-THE-VISITOR" not in by_integrations
    by_consent = client.get(f"{base}?withheld_by=consent").content.decode()
    assert "R-BY-THE-VISITOR" in by_consent and "R-BY-THE-SHOP" not in by_consent
    dashboard = client.get(f"{base}dashboard/").content.decode()
    assert "Withheld, last day" in dashboard and "withheld_by=consent" in dashboard


@pytest.mark.django_db
def test_the_python_api_takes_the_integrations_object() -> None:
    context = {"traits": {"email": "ann@example.com"}}
    kept = api.track(
        "u1", "Order Completed", {"total": 1}, context=context, integrations={"Seg": False}
    )
    sent = api.track(
        "u1", "Order Completed", {"total": 2}, context=context, integrations={"Seg": True}
    )
    statuses = dict(Event.objects.values_list("message_id", "status"))
    assert statuses == {kept: Status.WITHHELD, sent: Status.PENDING}
