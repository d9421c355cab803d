"""Delivery that has stalled is reported: by the database check and on the dashboard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import checks
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations import api
from integrations.checks import health
from integrations.models import Event

pytestmark = pytest.mark.django_db


def due_event(minutes_ago: float) -> Event:
    message_id = api.track(
        "u1", "Order Completed", {"orderId": "o-1"}, context={"traits": {"email": "a@example.com"}}
    )
    events = Event.objects.filter(message_id=message_id)
    events.update(next_attempt_at=timezone.now() - timedelta(minutes=minutes_ago))
    return events.get()


def attempt_at(event: Event, minutes_ago: float) -> None:
    event.attempt_set.create(
        number=1,
        started_at=timezone.now() - timedelta(minutes=minutes_ago),
        duration_ms=1,
        url="u",
        status_code=503,
        verdict="retry",
        error_class="HTTP 503",
    )


def stall_checks() -> list[checks.CheckMessage]:
    found = checks.run_checks(databases=["default"])
    return [message for message in found if message.id == "integrations.W005"]


def test_events_due_for_minutes_with_no_attempt_give_the_warning() -> None:
    event = due_event(minutes_ago=10)
    [found] = stall_checks()
    assert found.level == checks.WARNING
    assert "no worker has begun a delivery attempt for 5 minutes" in found.msg
    assert "none has ever begun" in found.msg
    assert "worker -Q seg" in found.hint and "beat" in found.hint
    stall = health.delivery_stall(timezone.now())
    assert stall is not None and stall.due_since == event.next_attempt_at


def test_an_attempt_long_ago_is_named() -> None:
    attempt_at(due_event(minutes_ago=10), minutes_ago=9)
    [found] = stall_checks()
    assert "the last began at" in found.msg


def test_a_recent_attempt_or_nothing_due_long_gives_none() -> None:
    event = due_event(minutes_ago=2)
    assert stall_checks() == []  # due, but for less than STALL_AFTER
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=30))
    attempt_at(event, minutes_ago=1)
    assert stall_checks() == []  # a worker is taking events


def test_the_plain_check_does_not_read_the_database() -> None:
    due_event(minutes_ago=10)
    assert [m for m in checks.run_checks() if m.id == "integrations.W005"] == []


@pytest.mark.redis
def test_the_dashboard_warns_while_delivery_stalls(admin_client: Client) -> None:
    url = reverse("admin:integrations_event_dashboard")
    assert "no worker has begun" not in admin_client.get(url).content.decode()
    due_event(minutes_ago=10)
    html = admin_client.get(url).content.decode()
    assert "no worker has begun a delivery attempt for 5 minutes" in html
    assert "worker -Q seg" in html
