"""An event without an email, or with nothing to send, never goes to Seg, whatever moves it:
operator actions and commands leave it where it is, the lifecycle refuses to make it
pending, and a worker that finds one records it failed instead of posting it."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from integrations import api
from integrations.delivery import loop as delivery
from integrations.dev import Sandbox
from integrations.lifecycle import moves as lifecycle
from integrations.lifecycle import operations
from integrations.models import Attempt, Event, Status, StatusChange

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/integrations/event/"


def never_identified(status: Status) -> Event:
    """A page view from a visitor whose email never became known, moved to ``status``."""
    message_id = api.page(anonymous_id="anon-never", name="Home")
    event = Event.objects.get(message_id=message_id)
    assert event.status == Status.HELD and event.email == ""
    Event.objects.filter(pk=event.pk).update(status=status)
    return Event.objects.get(pk=event.pk)


def known(status: Status, **fields: Any) -> Event:
    """An order from a known customer, in ``status``, with ``fields`` overwritten."""
    message_id = api.track(
        "u1", "Order Completed", {"orderId": "o1"}, context={"traits": {"email": "a@b.co"}}
    )
    Event.objects.filter(message_id=message_id).update(status=status, **fields)
    return Event.objects.get(message_id=message_id)


def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))
    return client


def test_admin_retry_of_an_expired_never_identified_event_leaves_it_expired(
    client: Client,
) -> None:
    event = never_identified(Status.EXPIRED)
    response = admin_client(client).post(
        CHANGELIST,
        {"action": "retry_events", "_selected_action": [str(event.pk)]},
        follow=True,
    )
    event.refresh_from_db()
    assert event.status == Status.EXPIRED
    assert not StatusChange.objects.filter(event=event).exclude(status=Status.HELD).exists()
    text = response.content.decode()
    assert (
        "Retried no events; 1 expired event: no email or nothing to send, so left as they are"
        in text
    )


@pytest.mark.parametrize(
    ("command", "status"), [("seg_retry", Status.FAILED), ("seg_retry", Status.EXPIRED)]
)
def test_the_commands_leave_an_event_without_an_email_where_it_is(
    command: str, status: Status
) -> None:
    event = never_identified(status)
    out = StringIO()
    call_command(command, stdout=out, stderr=StringIO())
    event.refresh_from_db()
    assert event.status == status
    assert out.getvalue().startswith("Retried no events.\n")
    assert f"1 {status} event: no email or nothing to send, so left as they are" in out.getvalue()


# What an operator's move to pending needs: an email, a payload, an action.
UNSENDABLE = {
    "no email": {"email": ""},
    "no payload": {"payload": None},
    "no action": {"action": ""},
}


@pytest.mark.parametrize("fields", UNSENDABLE.values(), ids=UNSENDABLE.keys())
@pytest.mark.parametrize(
    ("operation", "status"),
    [
        (operations.retry, Status.FAILED),
        (operations.retry, Status.EXPIRED),
        (operations.replay, Status.DELIVERED),
    ],
)
def test_retry_and_replay_need_something_to_send(
    operation: Any, status: Status, fields: dict[str, Any]
) -> None:
    event = known(status, **fields)
    assert operation(Event.objects.filter(pk=event.pk), "ops") == 0
    event.refresh_from_db()
    assert event.status == status
    assert (
        operations.unsendable(
            Event.objects.filter(pk=event.pk), "retry" if status != Status.DELIVERED else "replay"
        )
        == 1
    )


def test_unsuppress_without_a_payload_stays_suppressed() -> None:
    event = known(Status.SUPPRESSED, payload=None)
    assert operations.unsuppress(Event.objects.filter(pk=event.pk), "ops") == 0
    event.refresh_from_db()
    assert event.status == Status.SUPPRESSED


def test_unsuppress_of_an_event_without_an_email_goes_back_to_held() -> None:
    event = never_identified(Status.SUPPRESSED)
    assert operations.unsuppress(Event.objects.filter(pk=event.pk), "ops") == 1
    event.refresh_from_db()
    assert event.status == Status.HELD


def test_no_move_makes_an_event_pending_without_an_email() -> None:
    event = never_identified(Status.HELD)
    moved = lifecycle.move_each(
        "release", [(event.pk, {"status_reason": ""})], "released", timezone.now()
    )
    assert moved == []
    moved = lifecycle.move_each(
        "release", [(event.pk, {"email": "", "payload": event.payload})], "x", timezone.now()
    )
    assert moved == []
    assert Event.objects.get(pk=event.pk).status == Status.HELD
    payload = {**(event.payload or {}), "Email": "ann@example.com"}
    moved = lifecycle.move_each(
        "release",
        [(event.pk, {"email": "ann@example.com", "payload": payload})],
        "x",
        timezone.now(),
    )
    assert moved == [event.pk]


BLANK_IN_THE_ROW = {
    "no email": {"email": ""},
    "no payload": {"payload": None},
    "no action": {"action": ""},
    "no email in the payload": {"payload": {"MessageId": "m", "Email": ""}},
}


@pytest.mark.parametrize("fields", BLANK_IN_THE_ROW.values(), ids=BLANK_IN_THE_ROW.keys())
def test_a_worker_never_posts_an_event_it_cannot_send(
    sandbox: Sandbox, fields: dict[str, Any]
) -> None:
    event = known(Status.PENDING, next_attempt_at=timezone.now(), **fields)
    ok = known(Status.PENDING, next_attempt_at=timezone.now())
    verdicts = delivery.deliver_many([event.pk, ok.pk])
    assert len(sandbox.snapshot()) == 1  # only the good one
    assert len(verdicts) == 1
    event.refresh_from_db()
    assert event.status == Status.FAILED
    assert "Not sent to Seg" in event.status_reason
    assert not Attempt.objects.filter(event=event).exists()
    assert StatusChange.objects.filter(event=event, status=Status.FAILED).exists()
    # And an operator cannot send it on either.
    assert operations.retry(Event.objects.filter(pk=event.pk), "ops") == 0
