"""The lifecycle table: every legal move succeeds, every other is refused by the database guard."""

from __future__ import annotations

from typing import get_args

import pytest
from django.utils import timezone

from integrations import api
from integrations.delivery import outbox
from integrations.lifecycle import moves as lifecycle
from integrations.models import Event, Status, StatusChange

pytestmark = pytest.mark.django_db

CASES = [(name, status) for name in lifecycle.MOVES for status in Status]


def an_event(status: Status) -> Event:
    message_id = api.track(
        "u1", "Product Viewed", {"id": "p"}, context={"traits": {"email": "a@b.co"}}
    )
    Event.objects.filter(message_id=message_id).update(status=status)
    return Event.objects.get(message_id=message_id)


@pytest.mark.parametrize(("name", "status"), CASES, ids=[f"{n}-from-{s}" for n, s in CASES])
def test_each_move_from_each_status(name: lifecycle.MoveName, status: Status) -> None:
    spec = lifecycle.MOVES[name]
    event = an_event(status)
    moved = lifecycle.move(Event.objects.filter(pk=event.pk), name, "by the table")
    event.refresh_from_db()
    legal = status in spec.sources
    assert moved == (1 if legal else 0)
    assert event.status == (spec.target if legal else status)
    history = StatusChange.objects.filter(event=event, cause="by the table")
    assert history.count() == (1 if legal and spec.history else 0)


@pytest.mark.parametrize(("name", "status"), CASES, ids=[f"{n}-from-{s}" for n, s in CASES])
def test_each_move_row_by_row(name: lifecycle.MoveName, status: Status) -> None:
    spec = lifecycle.MOVES[name]
    event = an_event(status)
    moved = lifecycle.move_each(name, [(event.pk, {"status_reason": "x"})], "row", timezone.now())
    event.refresh_from_db()
    assert moved == ([event.pk] if status in spec.sources else [])
    assert event.status == (spec.target if status in spec.sources else status)


def test_a_worker_move_needs_its_lease_token() -> None:
    event = an_event(Status.SENDING)
    Event.objects.filter(pk=event.pk).update(attempts=2)
    stale = Event.objects.filter(pk=event.pk, attempts=1)
    assert lifecycle.move(stale, "deliver") == 0
    assert lifecycle.move(Event.objects.filter(pk=event.pk, attempts=2), "deliver") == 1


def test_every_move_names_who_may_make_it() -> None:
    for name, spec in lifecycle.MOVES.items():
        assert (spec.sources and spec.target not in spec.sources) or name == "claim", name
        assert isinstance(spec.actor, lifecycle.Actor)


def test_retention_deletes_only_what_it_may() -> None:
    kept = {status: an_event(status) for status in Status}
    deleted = outbox.delete_ended(Event.objects.all())
    assert deleted == len(outbox.PURGEABLE)
    assert set(Event.objects.values_list("status", flat=True)) == set(Status) - set(
        outbox.PURGEABLE
    )
    assert len(kept) == len(Status)


def test_every_move_has_a_name_the_type_checker_knows() -> None:
    assert set(get_args(lifecycle.MoveName)) == set(lifecycle.MOVES)
