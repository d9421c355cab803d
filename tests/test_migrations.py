"""An existing shop's rows through the migrations: a database filled by an earlier schema,
migrated forward, still delivers what was pending and still shows what happened."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.utils import timezone

from integrations.core import Verdict, validate
from integrations.core.payloads import map_message
from integrations.delivery import loop as delivery
from integrations.delivery import outbox
from integrations.dev.sandbox import Sandbox
from integrations.models import Attempt, BackfillRun, ErasureRequest, Event, LiveSince, Status

BEFORE = [("integrations", "0010_retention_of_anonymous")]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
def at_0010() -> Iterator[Any]:
    """The database at 0010, and its historical models; migrated forward again after."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    forward()


def forward() -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def order(apps: Any, tag: str, status: str, **fields: Any) -> Any:
    """An order's event as the 0010 schema stored it, written with its historical model."""
    now = timezone.now()
    raw = {
        "type": "track",
        "userId": f"u-{tag}",
        "event": "Order Completed",
        "messageId": f"m-{tag}",
        "properties": {"orderId": f"o-{tag}", "total": 30},
        "timestamp": now.isoformat(),
    }
    mapping = map_message(validate(raw), f"{tag}@example.com", now)
    row = {
        "message_id": raw["messageId"],
        "source": "server",
        "call_type": "track",
        "name": "Order Completed",
        "user_id": raw["userId"],
        "email": f"{tag}@example.com",
        "order_id": f"o-{tag}",
        "action": str(mapping.action),
        "seg_event": str(mapping.seg_event),
        "status": status,
        "ingest_status": "pending",
        "message": raw,
        "payload": mapping.payload,
        "timestamp": now,
        "received_at": now - timedelta(minutes=5),
        "updated_at": now,
    }
    return apps.get_model("integrations", "Event").objects.create(**(row | fields))


def test_rows_stored_by_0010_are_delivered_and_shown_after_migrating(
    at_0010: Any, sandbox: Sandbox
) -> None:
    now = timezone.now()
    pending = order(at_0010, "pending", "pending", next_attempt_at=now, enqueued_at=None)
    lapsed = order(
        at_0010,
        "lapsed",
        "sending",
        attempts=1,
        tries=1,
        first_attempt_at=now - timedelta(minutes=2),
        next_attempt_at=now - timedelta(minutes=1),  # a worker died holding it
    )
    done = order(at_0010, "done", "delivered", attempts=1, tries=1, delivered_at=now)
    at_0010.get_model("integrations", "Attempt").objects.create(
        event_id=done.pk,
        number=1,
        started_at=now,
        duration_ms=12.5,
        url="https://seg.example/order-placed",
        status_code=200,
        response_excerpt="accepted-before-the-upgrade",
        verdict="delivered",
    )
    at_0010.get_model("integrations", "StatusChange").objects.create(
        event_id=done.pk, at=now, status="pending", cause="Retried by ops before the upgrade."
    )

    forward()

    assert Event.objects.get(pk=pending.pk).status == Status.PENDING
    assert Event.objects.get(pk=lapsed.pk).status == Status.SENDING
    # The sweeper finds both as due work with no live wake-up, as it did before.
    with transaction.atomic():
        swept = set(outbox.orphans(now + timedelta(seconds=1), now, 10))
    assert swept == {pending.pk, lapsed.pk}
    verdicts = delivery.deliver_many([pending.pk, lapsed.pk])
    assert verdicts == [Verdict.DELIVERED, Verdict.DELIVERED]
    keys = sorted(r.headers["Idempotency-Key"] for r in sandbox.snapshot())
    assert keys == ["m-lapsed", "m-pending"]
    assert Event.objects.get(pk=lapsed.pk).attempts == 2
    assert Attempt.objects.filter(event_id=pending.pk, verdict=Verdict.DELIVERED).exists()

    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    page = client.get(f"/admin/integrations/event/{done.pk}/change/")
    assert page.status_code == 200
    assert b"accepted-before-the-upgrade" in page.content
    assert b"Retried by ops before the upgrade." in page.content
    listed = client.get("/admin/integrations/event/?status__exact=delivered")
    assert listed.status_code == 200 and b"o-done" in listed.content


def test_the_migration_leaves_the_indexes_the_models_declare(at_0010: Any) -> None:
    forward()
    with connection.cursor() as cursor:
        found = set(connection.introspection.get_constraints(cursor, Event._meta.db_table))
    declared = {index.name for index in Event._meta.indexes}
    assert declared <= found
    assert "seg_event_server_line" not in found


def test_0018_records_when_live_calls_began_only_when_none_can_have_been_deleted(
    at_0010: Any,
) -> None:
    # The app installed within SEG_RETENTION_DAYS (30), holding its server's events.
    order(at_0010, "young", "delivered", received_at=timezone.now() - timedelta(days=2))
    # Received first; dated a moment before its receipt, as a live order's date_placed is.
    received = timezone.now() - timedelta(days=3)
    placed = received - timedelta(seconds=2)
    order(at_0010, "first", "delivered", received_at=received, timestamp=placed)
    order(at_0010, "older", "delivered", received_at=received + timedelta(seconds=1),
          timestamp=placed - timedelta(days=1))  # fmt: skip
    forward()
    assert LiveSince.objects.get().at == placed


def test_0018_records_nothing_for_a_shop_whose_server_sent_nothing(at_0010: Any) -> None:
    forward()
    assert not LiveSince.objects.exists()


@pytest.mark.parametrize("lost", ["older than retention", "installed long ago", "erased"])
def test_0018_records_not_known_when_older_server_events_may_be_gone(
    at_0010: Any, lost: str, tmp_path: Any
) -> None:
    received = timezone.now() - timedelta(days=40 if lost == "older than retention" else 2)
    order(at_0010, "kept", "delivered", received_at=received)
    installed = MigrationRecorder.Migration.objects.filter(app="integrations", name="0001_initial")
    applied = installed.get().applied
    if lost == "installed long ago":
        installed.update(applied=timezone.now() - timedelta(days=400))
    if lost == "erased":
        forward()  # erasure requests came with 0012
        ErasureRequest.objects.create(kind="delete", requested_by="ops")
        MigrationExecutor(connection).migrate([("integrations", "0017_backfillrun_suppressed")])
    try:
        forward()
    finally:
        installed.update(applied=applied)
    assert LiveSince.objects.get().at is None
    # The default backfill cannot know where live began: it asks for --until, dry or not.
    path = tmp_path / "history.jsonl"
    call = {"type": "identify", "userId": "u1", "traits": {"email": "h@example.com"}}
    path.write_text(json.dumps(call | {"timestamp": "2020-01-01T10:00:00Z"}) + "\n")
    for dry in (["--dry-run"], []):
        with pytest.raises(CommandError, match="Pass --until with the day live sending"):
            call_command("seg_backfill", str(path), "--no-progress", *dry)
    assert not BackfillRun.objects.exists()
    call_command("seg_backfill", str(path), "--no-progress", "--until", "2024-01-01")
    assert BackfillRun.objects.get().stored == 1
