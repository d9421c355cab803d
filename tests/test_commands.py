"""The retry and replay commands: one shell, each with its statuses, messages and cause."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from integrations import api
from integrations.models import Event, Status, StatusChange

pytestmark = pytest.mark.django_db

# The command, a status it takes, and the words of its messages.
COMMANDS = [
    ("seg_retry", Status.FAILED, "retry", "Retried"),
    ("seg_retry", Status.EXPIRED, "retry", "Retried"),
    ("seg_replay", Status.DELIVERED, "replay", "Replayed"),
]


def make(n: int, status: Status, email: str = "ann@example.com") -> None:
    ids = [
        api.track("u1", "Product Viewed", {"id": str(i)}, context={"traits": {"email": email}})
        for i in range(n)
    ]
    Event.objects.filter(message_id__in=ids).update(status=status)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.parametrize(("command", "status", "verb", "past"), COMMANDS)
def test_a_dry_run_counts_and_changes_nothing(
    command: str, status: Status, verb: str, past: str
) -> None:
    make(3, status)
    make(2, Status.PENDING)
    assert run(command, "--dry-run") == f"Would {verb} 3 event(s).\n"
    assert Event.objects.filter(status=status).count() == 3
    assert not StatusChange.objects.exists()


@pytest.mark.redis
@pytest.mark.parametrize(("command", "status", "verb", "past"), COMMANDS)
def test_the_selection_returns_to_pending_with_its_cause(
    command: str, status: Status, verb: str, past: str
) -> None:
    make(2, status, email="ann@example.com")
    make(1, status, email="bo@example.com")
    assert f"{past} 2 event(s)." in run(command, "--email", " Ann@Example.com ")
    assert StatusChange.objects.filter(cause=f"{past} by {command}.").count() == 2
    assert Event.objects.filter(status=status).count() == 1


@pytest.mark.parametrize(
    ("command", "status"), [("seg_retry", "delivered"), ("seg_replay", "failed")]
)
def test_a_status_the_command_does_not_take_is_refused(command: str, status: str) -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        run(command, "--status", status)


def test_a_time_that_is_not_one_is_refused_naming_the_option() -> None:
    with pytest.raises(CommandError, match="--since 'yesterday' is not a date"):
        run("seg_replay", "--since", "yesterday")
