"""The retry and replay commands: one shell, each with its statuses, its cause, and the
admin actions' words for what it did and what to do instead."""

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
    assert run(command, "--dry-run") == (
        f"Would {verb} 3 {status} events.\n"
        "2 pending events left alone — they are due and go out on their own.\n"
    )
    assert Event.objects.filter(status=status).count() == 3
    assert not StatusChange.objects.exists()


@pytest.mark.redis
@pytest.mark.parametrize(("command", "status", "verb", "past"), COMMANDS)
def test_the_selection_returns_to_pending_with_its_cause(
    command: str, status: Status, verb: str, past: str
) -> None:
    make(2, status, email="ann@example.com")
    make(1, status, email="bo@example.com")
    assert f"{past} 2 {status} events." in run(command, "--email", " Ann@Example.com ")
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


@pytest.mark.redis
def test_retry_says_per_state_what_it_did_and_what_to_do_instead() -> None:
    make(2, Status.FAILED)
    make(1, Status.EXPIRED)
    make(2, Status.DELIVERED)
    make(1, Status.SUPPRESSED)
    make(1, Status.FAILED, email="other@example.com")
    api.page(anonymous_id="never", name="Home", message_id="never-known")  # no email
    Event.objects.filter(message_id="never-known").update(status=Status.EXPIRED)
    api.page(anonymous_id="still", name="Home", message_id="still-held")  # held, no email
    assert run("seg_retry", "--email", "ann@example.com") == (
        "Retried 2 failed events and 1 expired event.\n"
        "2 delivered events left alone — Seg has them; use seg_replay to send them again.\n"
        "1 suppressed event left alone — use the admin's Unsuppress action to send them.\n"
    )
    assert Event.objects.filter(status=Status.PENDING, email="ann@example.com").count() == 3
    # Without --email: the one with no email is counted apart, held ones are named.
    assert run("seg_retry", "--dry-run") == (
        "Would retry 1 failed event.\n"
        "1 failed or expired event: no email or nothing to send, so left as they are — Seg "
        "is never "
        "sent an event without an email.\n"
        "3 pending events left alone — they are due and go out on their own.\n"
        "2 delivered events left alone — Seg has them; use seg_replay to send them again.\n"
        "1 held event left alone — they wait for an identify with the visitor's email; use "
        "the admin's Suppress action if they must never go.\n"
        "1 suppressed event left alone — use the admin's Unsuppress action to send them.\n"
    )


@pytest.mark.redis
def test_replay_says_per_state_what_it_did_and_what_to_do_instead() -> None:
    make(3, Status.DELIVERED)
    make(1, Status.FAILED)
    make(1, Status.PENDING)
    assert run("seg_replay") == (
        "Replayed 3 delivered events.\n"
        "1 pending event left alone — they are due and go out on their own.\n"
        "1 failed event left alone — use seg_retry to send them.\n"
    )
    assert run("seg_replay") == (
        "Replayed no events.\n"
        "4 pending events left alone — they are due and go out on their own.\n"
        "1 failed event left alone — use seg_retry to send them.\n"
    )


def test_with_status_named_only_those_are_selected() -> None:
    make(2, Status.FAILED)
    make(1, Status.EXPIRED)
    make(1, Status.DELIVERED)
    assert run("seg_retry", "--status", "expired", "--dry-run") == (
        "Would retry 1 expired event.\n"
    )


@pytest.mark.redis
def test_the_commands_count_every_event_they_select_past_the_admins_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The admin counts a page's selection over at most CAP rows; a command changes every
    # row it selects, and its report counts them all.
    from integrations.admin import actions

    monkeypatch.setattr(actions, "CAP", 2)
    make(3, Status.DELIVERED)
    make(4, Status.FAILED)
    assert run("seg_retry") == (
        "Retried 4 failed events.\n"
        "3 delivered events left alone — Seg has them; use seg_replay to send them again.\n"
    )
