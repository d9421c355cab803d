"""manage.py seg_backfill: a JSON Lines file of Segment calls, its queue, its order, its runs;
and the Oscar shop's backfill (tests/oscar_project/backfill_tests.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from integrations import api, backfill, lifecycle
from integrations.backfill import message_id_for
from integrations.delivery import outbox
from integrations.dev import Sandbox
from integrations.models import BackfillRun, Event, LiveSince, Source, Status
from tests.conftest import ROOT, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def calls(customers: int, orders: int) -> list[dict[str, Any]]:
    """Each customer's identify in 2020, then their orders in 2021, a day apart."""
    found: list[dict[str, Any]] = []
    for c in range(customers):
        found.append(
            {
                "type": "identify",
                "userId": f"u{c}",
                "traits": {"email": f"h{c}@example.com"},
                "timestamp": f"2020-01-{c + 1:02d}T10:00:00Z",
                "messageId": f"id-{c}",
            }
        )
        for o in range(orders):
            found.append(
                {
                    "type": "track",
                    "userId": f"u{c}",
                    "event": "Order Completed",
                    "properties": {"order_id": f"O{c}-{o}", "total": 10 + o},
                    "timestamp": f"2021-02-{o + 1:02d}T10:00:00Z",
                    # As an export from Segment has it: sent years ago.
                    "sentAt": f"2021-02-{o + 1:02d}T10:00:01Z",
                }
            )
    return found


def write(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


BAD = [
    "{not json",
    json.dumps({"type": "track", "event": "Order Completed"}),  # no userId nor anonymousId
    json.dumps({"type": "shout", "userId": "u1"}),
    "[1, 2]",
]


def test_a_file_is_read_as_the_http_api_reads_it_sent_in_order_and_once(
    tmp_path: Path, sandbox: Sandbox, start_worker: Any
) -> None:
    good = calls(4, 3)
    path = write(tmp_path / "history.jsonl", [*good[:5], *BAD, "", *good[5:]])
    start_worker(concurrency=2)
    call_command("seg_backfill", str(path), "--no-progress", "--rate", "200")
    run = BackfillRun.objects.get()
    assert (run.state, run.done, run.stored, run.invalid) == ("finished", 20, 16, 4)
    assert [e["where"] for e in run.errors] == ["line 6", "line 7", "line 8", "line 9"]
    assert "userId" in run.errors[1]["error"] and "type" in run.errors[2]["error"]
    wait_until(lambda: len(sandbox.delivered()) == 16, timeout=60)
    # The dates are the calls' own; sentAt does not move them to now.
    orders = [r.body for r in sandbox.delivered() if r.action == "order-placed"]
    assert {body["Date"][:10] for body in orders} == {"2021-02-01", "2021-02-02", "2021-02-03"}
    # Each customer's identify, then their orders, in the order they happened.
    for c in range(4):
        mine = [r for r in sandbox.delivered() if r.body.get("Email") == f"h{c}@example.com"]
        assert [r.action for r in mine] == ["update-customer"] + ["order-placed"] * 3
        assert [r.body.get("Date") for r in mine[1:]] == sorted(r.body["Date"] for r in mine[1:])
    keys = sandbox.delivered_keys()
    assert "backfill:id-0" in keys and max(keys.values()) == 1
    no_id = json.dumps(good[1]).encode()
    assert f"backfill:{message_id_for(no_id)}" in keys

    # The same file again: a new run that stores and sends nothing.
    call_command("seg_backfill", str(path), "--no-progress", "--rate", "200")
    again = BackfillRun.objects.exclude(pk=run.pk).get()
    assert (again.stored, again.repeated, again.invalid) == (0, 16, 4)
    assert Event.objects.count() == 16
    assert len(sandbox.delivered()) == 16


def test_a_dry_run_and_a_window(tmp_path: Path, broker: redis.Redis) -> None:
    path = write(tmp_path / "history.jsonl", [*calls(2, 2), BAD[0]])
    call_command("seg_backfill", str(path), "--dry-run", "--no-progress")
    assert not Event.objects.exists() and not BackfillRun.objects.exists()
    call_command(
        "seg_backfill", str(path), "--since", "2021-02-02", "--until", "2022-01-01",
        "--no-progress", "--rate", "500",
    )  # fmt: skip
    assert sorted(Event.objects.values_list("order_id", flat=True)) == ["O0-1", "O1-1"]
    assert Event.objects.filter(source=Source.BACKFILL).count() == 2


def test_backfilled_wake_ups_go_to_their_own_queue_and_no_live_event_waits_on_them(
    tmp_path: Path, broker: redis.Redis
) -> None:
    call_command(
        "seg_backfill", str(write(tmp_path / "h.jsonl", calls(1, 3))), "--no-progress",
        "--rate", "500",
    )  # fmt: skip
    assert broker.llen("seg_backfill") > 0 and broker.llen("seg") == 0
    backfilled = list(Event.objects.filter(source=Source.BACKFILL).order_by("timestamp", "pk"))
    assert all(e.status == Status.PENDING for e in backfilled)
    # The customer buys today: the order goes now, not after their history.
    live = api.track("u0", "Order Completed", {"order_id": "NOW", "total": 5})
    event = Event.objects.get(message_id=live)
    assert event.email == "h0@example.com"
    assert broker.llen("seg") == 1
    assert lifecycle.waiting([event.pk]) == set()
    # Within the history, each waits on the one before it.
    ids = [e.pk for e in backfilled]
    assert lifecycle.waiting(ids) == set(ids[1:])


def test_a_killed_file_run_resumes_after_its_last_chunk(
    tmp_path: Path, sandbox: Sandbox, start_worker: Any
) -> None:
    from tests.conftest import child_env

    path = write(tmp_path / "big.jsonl", calls(20, 10))
    env = child_env(sandbox)
    argv = [sys.executable, "manage.py", "seg_backfill", str(path), "--no-progress"]
    first = subprocess.Popen([*argv, "--rate", "50"], cwd=ROOT, env=env)
    wait_until(lambda: BackfillRun.objects.filter(done__gte=60).exists(), timeout=60)
    first.kill()
    first.wait()
    stopped = BackfillRun.objects.get().done
    assert stopped < 220
    start_worker(concurrency=2)
    subprocess.run([*argv, "--rate", "400"], cwd=ROOT, env=env, check=True, timeout=120)
    run = BackfillRun.objects.get()
    assert (run.state, run.done, run.stored) == ("finished", 220, 220)
    wait_until(lambda: len(sandbox.delivered()) >= 220, timeout=90)
    keys = sandbox.delivered_keys()
    assert len(keys) == 220 and max(keys.values()) == 1


def test_the_admin_shows_each_runs_progress_and_errors(
    tmp_path: Path, broker: redis.Redis, admin_client: Client
) -> None:
    path = write(tmp_path / "history.jsonl", [*calls(1, 1), *BAD])
    call_command("seg_backfill", str(path), "--no-progress", "--rate", "500")
    run = BackfillRun.objects.get()
    page = admin_client.get("/admin/integrations/backfillrun/").content.decode()
    assert "6 of 6 (100%)" in page and "finished" in page
    page = admin_client.get(f"/admin/integrations/backfillrun/{run.pk}/change/").content.decode()
    assert "line 3" in page and "userId" in page


@pytest.mark.redis
def test_the_oscar_shops_backfill() -> None:
    """tests/oscar_project/backfill_tests.py, under the Oscar shop's settings, passes."""
    command = [sys.executable, "-m", "pytest", "tests/oscar_project/backfill_tests.py"]
    command += ["--ds", "tests.oscar_project.settings", "--nomigrations", "-p", "no:cacheprovider"]
    command += ["-q", "-ra", "-s"]
    run = subprocess.run(
        command, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=900
    )
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]


def test_a_backfill_never_brings_back_a_customer_erased_on_request(tmp_path: Path) -> None:
    # The shop's own records still hold the customer after an erasure that only
    # deleted the app's rows: their history is refused, the others' stored.
    api.identify("u0", {"email": "h0@example.com"})
    request = api.erase(email="h0@example.com")  # delete only: no suppression
    path = write(tmp_path / "history.jsonl", calls(2, 2))
    call_command("seg_backfill", str(path), "--no-progress", "--rate", "200")
    run = BackfillRun.objects.get()
    assert (run.done, run.stored, run.invalid) == (6, 3, 3)
    assert {e["error"] for e in run.errors} == {
        "names a customer erased on request (GDPR art. 17): not sent again"
    }
    assert not Event.objects.filter(user_id="u0").exists()
    assert set(Event.objects.values_list("user_id", flat=True)) == {"u1"}
    assert request.kind == "delete"


def test_a_run_keeps_nothing_of_an_erased_customer_in_its_errors(tmp_path: Path) -> None:
    # Refused lines and a failed run, each naming the customer: where (the line) and the
    # rule broken are kept, never a value of theirs, so their erasure leaves none behind.
    email, user_id, anonymous_id = "kept@example.com", "u-kept", "a-kept"
    named = {"userId": user_id, "anonymousId": anonymous_id, "traits": {"email": email}}
    lines = [
        {"type": "identify", **named, "timestamp": "2020-01-01T10:00:00Z"},
        {"type": "track", **named, "event": ""},
        {"type": "shout", **named},
        {"type": "alias", "previousId": email, "anonymousId": anonymous_id},
        {"type": "track", **named, "event": 5},
        json.dumps({"type": "identify", **named})[:-1],
    ]
    source = backfill.JsonLines(write(tmp_path / "history.jsonl", lines))
    record = backfill.resumable(source, None, None)

    def stop(progress: backfill.Progress) -> None:
        if progress.done:
            raise RuntimeError(f"stopped at {email} ({user_id}, {anonymous_id})")

    with pytest.raises(RuntimeError):
        backfill.run(source, record, rate=500, on_progress=stop)
    run = BackfillRun.objects.get()
    assert (run.state, run.stored, run.invalid, len(run.errors)) == ("failed", 1, 5, 6)
    assert [e["where"] for e in run.errors] == [*(f"line {n}" for n in range(2, 7)), "run"]
    api.erase(email=email)
    kept = json.dumps(list(BackfillRun.objects.values()), default=str)
    assert not [x for x in (email, user_id, anonymous_id) if x in kept]


def test_an_erasure_drops_the_kept_errors_that_name_the_customers_user_id() -> None:
    # An Oscar run says where by the customer's pk, which is their userId.
    api.identify("42", {"email": "pk42@example.com"})
    errors = [
        {"where": "customer 42", "error": "not sent"},
        {"where": "customer 420", "error": "not sent"},
        {"where": "order 42", "error": "not sent"},
    ]
    BackfillRun.objects.create(kind=BackfillRun.Kind.OSCAR, errors=errors)
    record = api.erase(email="pk42@example.com")
    assert [e["where"] for e in BackfillRun.objects.get().errors] == ["customer 420", "order 42"]
    assert record.counts["backfill errors"] == 1


def test_a_suppressed_customers_items_are_counted_on_the_run_and_nothing_of_them_kept(
    tmp_path: Path, admin_client: Client
) -> None:
    api.identify("u0", {"email": "h0@example.com"})
    api.erase(email="h0@example.com", delete=False, suppress=True)
    path = write(tmp_path / "history.jsonl", calls(2, 2))
    out = StringIO()
    call_command("seg_backfill", str(path), "--dry-run", "--no-progress", stdout=out)
    assert "Would store 3 event(s); 0 already stored; 0 refused; 3 of suppressed" in out.getvalue()
    call_command("seg_backfill", str(path), "--no-progress", "--rate", "200", stdout=out)
    run = BackfillRun.objects.get()
    assert (run.done, run.stored, run.invalid, run.suppressed, run.errors) == (6, 3, 0, 3, [])
    assert "stored 3 event(s); 0 already stored; 0 refused; 3 of suppressed" in out.getvalue()
    assert not Event.objects.filter(source=Source.BACKFILL, user_id="u0").exists()
    page = admin_client.get(f"/admin/integrations/backfillrun/{run.pk}/change/").content.decode()
    assert "Suppressed" in page and "h0@example.com" not in page and '"u0"' not in page


def test_the_shops_history_never_overwrites_what_live_calls_made_known(tmp_path: Path) -> None:
    api.identify("u5", {"email": "now@example.com"})
    old = {"type": "identify", "userId": "u5", "traits": {"email": "then@example.com"}}
    old["timestamp"] = "2020-01-01T10:00:00Z"
    path = write(tmp_path / "history.jsonl", [old])
    call_command("seg_backfill", str(path), "--no-progress", "--rate", "200")
    assert BackfillRun.objects.get().stored == 1
    # A live call naming only the user still goes to the email live calls gave.
    message_id = api.track("u5", "Product Viewed", {"id": "1"})
    assert Event.objects.get(message_id=message_id).email == "now@example.com"


def test_a_backfilled_alias_never_moves_what_live_calls_made_known(tmp_path: Path) -> None:
    api.identify("u6", {"email": "old@example.com"})
    api.alias("old@example.com", "now@example.com")  # live: u6 moved to now@
    api.identify("u7", {"email": "seven@example.com"})
    moves = [
        # Years ago u6 went from now@ to old@, and u7 from seven@ to before@.
        {"previousId": "now@example.com", "userId": "old@example.com"},
        {"previousId": "seven@example.com", "userId": "before@example.com"},
        # An email live calls never named: history may still move it.
        {"previousId": "gone@example.com", "userId": "went@example.com"},
    ]
    lines = [{"type": "alias", **m, "timestamp": "2019-05-01T10:00:00Z"} for m in moves]
    call_command("seg_backfill", str(write(tmp_path / "history.jsonl", lines)), "--no-progress")
    assert BackfillRun.objects.get().stored == 3  # each sent to Seg as history
    live = [
        api.track("u6", "Product Viewed", {"id": "1"}),
        api.track("u7", "Product Viewed", {"id": "1"}),
        api.track(None, "Product Viewed", {"id": "1"}, anonymous_id="a9",
                  context={"traits": {"email": "gone@example.com"}}),
    ]  # fmt: skip
    emails = [Event.objects.get(message_id=m).email for m in live]
    assert emails == ["now@example.com", "seven@example.com", "went@example.com"]


def test_by_default_nothing_dated_after_the_first_live_call_is_sent_even_once_purged(
    tmp_path: Path, sandbox: Sandbox, start_worker: Any, admin_client: Client
) -> None:
    start_worker()
    # The shop's server goes live with an order, dated when it was placed: a moment
    # before the app received it, as a live Oscar order's date_placed is.
    order = {"order_id": "L1", "total": 5}
    placed = timezone.now() - timedelta(seconds=2)
    traits = {"traits": {"email": "l@example.com"}}
    live = api.track("u1", "Order Completed", order, context=traits, timestamp=placed)
    wait_until(lambda: len(sandbox.delivered()) == 1, timeout=60)
    dated = Event.objects.get(message_id=live).timestamp.isoformat()
    assert Event.objects.get(message_id=live).received_at > placed
    # Retention deletes the delivered live events; when they began is kept.
    assert outbox.purge(now=timezone.now() + timedelta(days=400)) == 1
    assert not Event.objects.exists()
    history = {"type": "track", "userId": "u1", "event": "Order Completed", "properties": order}
    lines = [
        {**history, "properties": {"order_id": "H1", "total": 7}, "timestamp": "2021-01-01"},
        {**history, "messageId": live, "timestamp": dated},  # the export holds it too
    ]
    path = write(tmp_path / "history.jsonl", lines)
    out = StringIO()
    call_command("seg_backfill", str(path), "--no-progress", "--rate", "500", stdout=out)
    run = BackfillRun.objects.get()
    assert (run.done, run.stored, run.until) == (2, 1, LiveSince.objects.get().at)
    assert "when the shop's server first sent a live call" in out.getvalue()
    page = admin_client.get(f"/admin/integrations/backfillrun/{run.pk}/change/").content.decode()
    assert "when the shop&#x27;s server first sent a live call" in page
    assert list(Event.objects.values_list("order_id", flat=True)) == ["H1"]
    # --until overrides it, and says so.
    until = ["--until", "2100-01-01"]
    call_command("seg_backfill", str(path), "--no-progress", *until, stdout=out)
    assert "before 2100-01-01T00:00:00+00:00 (--until)" in out.getvalue()
    assert BackfillRun.objects.latest("pk").stored == 1


def test_a_runs_page_reads_where_live_calls_began_and_records_nothing(
    admin_client: Client,
) -> None:
    api.track("u1", "Order Completed", {"order_id": "L1", "total": 5})  # live, not recorded
    bounded = BackfillRun.objects.create(kind=BackfillRun.Kind.OSCAR, until=timezone.now())
    page = admin_client.get(f"/admin/integrations/backfillrun/{bounded.pk}/change/")
    assert "(--until)" in page.content.decode()
    assert not LiveSince.objects.exists()
    # Made with no bound: it says so, whatever the server had sent.
    run = BackfillRun.objects.create(kind=BackfillRun.Kind.OSCAR, until=None)
    page = admin_client.get(f"/admin/integrations/backfillrun/{run.pk}/change/")
    assert "Items of every date: no --until." in page.content.decode()


def test_a_dry_run_counts_an_item_stored_live_and_suppressed_as_the_run_does(
    tmp_path: Path,
) -> None:
    api.identify("u0", {"email": "h0@example.com"})
    api.track("u0", "Order Completed", {"order_id": "O0-0", "total": 10}, message_id="live-0")
    api.erase(email="h0@example.com", delete=False, suppress=True)
    lines = calls(1, 2)
    lines[1]["messageId"] = "live-0"  # the export holds the live order too
    path = write(tmp_path / "history.jsonl", lines)
    out = StringIO()
    call_command("seg_backfill", str(path), "--dry-run", "--no-progress", stdout=out)
    call_command("seg_backfill", str(path), "--no-progress", "--rate", "500", stdout=out)
    counts = "0 event(s); 1 already stored; 0 refused; 2 of suppressed customers"
    assert f"Would store {counts}" in out.getvalue()
    assert f"finished: stored {counts}" in out.getvalue()
