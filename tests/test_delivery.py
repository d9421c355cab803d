"""Delivery to a real local HTTP server playing Seg, for each answer in the contract."""

from __future__ import annotations

import hashlib
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection
from django.utils import timezone

from integrations import USER_AGENT, api, tasks
from integrations.core import QUEUE, Verdict
from integrations.delivery import loop as delivery
from integrations.delivery import outcomes, throttle, tracker
from integrations.dev.sandbox import Answer, Sandbox
from integrations.lifecycle import operations
from integrations.models import Attempt, Event, Status, SuppressionRule

from .conftest import WEBSITE_ID

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


def email() -> str:
    """A customer of one's own."""
    return f"c-{uuid.uuid4().hex[:12]}@b.co"


def order_event() -> Event:
    message_id = api.track(
        "u1",
        "Order Completed",
        {"orderId": "o-1", "total": "30.50"},
        context={"traits": {"email": "ann@example.com"}},
    )
    return Event.objects.get(message_id=message_id)


def test_delivered_exactly_as_the_contract_says(sandbox: Sandbox) -> None:
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.DELIVERED
    [received] = sandbox.snapshot()
    assert received.path == f"/django/{WEBSITE_ID}/order-placed"
    assert received.body == event.payload
    assert received.body["Total"] == 30.5
    headers = received.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Idempotency-Key"] == event.message_id
    event.refresh_from_db()
    assert event.status == Status.DELIVERED and event.delivered_at is not None
    [attempt] = Attempt.objects.filter(event=event)
    assert (attempt.number, attempt.status_code, attempt.verdict) == (1, 200, "delivered")
    assert attempt.url.endswith("/order-placed") and attempt.duration_ms > 0


def test_a_claimed_event_is_not_delivered_twice(sandbox: Sandbox) -> None:
    event = order_event()
    assert delivery.claim(event.pk, timezone.now()) == delivery.Claim(1, 1, event)
    assert delivery.deliver(event.pk) is None
    assert sandbox.snapshot() == []


def test_permanent_refusal_fails_without_retry(sandbox: Sandbox) -> None:
    sandbox.script(Answer(status=422, body={"error": "bad email"}))
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.FAILED
    event.refresh_from_db()
    assert event.status == Status.FAILED and event.next_attempt_at is None
    assert "HTTP 422" in event.last_error and "bad email" in event.last_error
    assert Attempt.objects.get(event=event).response_excerpt == '{"error": "bad email"}'


def test_429_honours_retry_after_then_delivers(sandbox: Sandbox) -> None:
    sandbox.script(Answer(status=429, headers={"Retry-After": "120"}))
    event = order_event()
    before = timezone.now()
    assert delivery.deliver(event.pk) is Verdict.RETRY
    event.refresh_from_db()
    assert event.status == Status.PENDING
    assert event.next_attempt_at >= before + timedelta(seconds=120)
    assert delivery.deliver(event.pk) is None  # not due yet
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert delivery.deliver(event.pk) is None  # every worker is paused for Retry-After
    event.refresh_from_db()
    assert event.attempts == 1 and event.next_attempt_at >= before + timedelta(seconds=119)
    throttle.reset()
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert delivery.deliver(event.pk) is Verdict.DELIVERED
    assert [a.status_code for a in Attempt.objects.filter(event=event)] == [429, 200]
    assert sandbox.delivered_keys() == {event.message_id: 1}


@pytest.mark.parametrize("status", [500, 503, 408, 409, 425])
def test_transient_answers_are_retried(sandbox: Sandbox, status: int) -> None:
    sandbox.script(Answer(status=status))
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.RETRY
    event.refresh_from_db()
    assert event.status == Status.PENDING and event.attempts == 1
    assert Attempt.objects.get(event=event).error_class == f"HTTP {status}"


def test_read_timeout_is_retried(sandbox: Sandbox, seg_settings: Any) -> None:
    seg_settings.SEG_READ_TIMEOUT = 0.3
    sandbox.script(Answer(delay=1.0))
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.RETRY
    assert Attempt.objects.get(event=event).error_class == "ReadTimeout"


def test_refused_connection_is_retried(seg_settings: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    seg_settings.SEG_TRACKER_URL = f"http://127.0.0.1:{port}"
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.RETRY
    assert Attempt.objects.get(event=event).error_class == "ConnectionError"


def test_fails_once_the_retry_window_is_spent(sandbox: Sandbox, seg_settings: Any) -> None:
    seg_settings.SEG_RETRY_WINDOW = 0  # any backoff lands past it
    sandbox.script(default=Answer(status=503))
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.FAILED
    event.refresh_from_db()
    assert event.status == Status.FAILED and event.status_reason == "Retries ran out."


def test_fails_after_max_attempts(sandbox: Sandbox, seg_settings: Any) -> None:
    seg_settings.SEG_MAX_ATTEMPTS = 3
    sandbox.script(default=Answer(status=500))
    event = order_event()
    verdicts = []
    for _ in range(3):
        throttle.reset()  # 500s count towards the breaker; this test is about attempts
        Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
        verdicts.append(delivery.deliver(event.pk))
    assert verdicts == [Verdict.RETRY, Verdict.RETRY, Verdict.FAILED]


def test_lapsed_lease_lets_another_worker_take_over(sandbox: Sandbox) -> None:
    event = order_event()
    now = timezone.now()
    assert delivery.claim(event.pk, now) == delivery.Claim(1, 1, event)  # then it dies
    later = now + timedelta(seconds=61)
    assert delivery.claim(event.pk, later) == delivery.Claim(2, 2, event)
    event.refresh_from_db()
    assert event.status == Status.SENDING and event.attempts == 2


def test_late_finish_does_not_overwrite_the_new_holder(sandbox: Sandbox) -> None:
    event = order_event()
    now = timezone.now()
    delivery.claim(event.pk, now)
    delivery.claim(event.pk, now + timedelta(seconds=61))
    stale = tracker.Answer(Verdict.FAILED, 400, "", "HTTP 400", "HTTP 400", None, 1.0)
    assert outcomes.record(outcomes.Posted(delivery.Claim(1, 1, event), "u", now, stale)) == (
        Verdict.FAILED
    )
    event.refresh_from_db()
    assert event.status == Status.SENDING  # attempt 2 still holds it
    assert Attempt.objects.filter(event=event, number=1).exists()


@pytest.mark.parametrize("status", [200, 500, 422])
def test_a_late_finish_of_any_verdict_is_kept_and_never_applied(
    sandbox: Sandbox, status: int
) -> None:
    # The lease lapsed during the post and another worker holds attempt 2:
    # whatever attempt 1 came to, the row stays theirs (no wake-up either).
    sandbox.script(Answer(status=status))
    event = order_event()
    now = timezone.now()
    [first] = delivery.claim_many([event.pk], now)
    posted = delivery.attempt(first)
    assert delivery.claim(event.pk, now + timedelta(seconds=61)) == delivery.Claim(2, 2, event)
    outcomes.record(posted)
    event.refresh_from_db()
    assert (event.status, event.attempts, event.delivered_at) == (Status.SENDING, 2, None)
    assert event.last_error == ""
    [kept] = Attempt.objects.filter(event=event)
    assert (kept.number, kept.status_code) == (1, status)
    # The holder's own finish still applies.
    done = tracker.Answer(Verdict.DELIVERED, 200, "", "", "", None, 1.0)
    assert outcomes.record(outcomes.Posted(delivery.Claim(2, 2, event), "u", now, done)) == (
        Verdict.DELIVERED
    )
    event.refresh_from_db()
    assert event.status == Status.DELIVERED


def test_a_retry_gives_a_fresh_budget_and_numbering_goes_on(
    sandbox: Sandbox, seg_settings: Any
) -> None:
    seg_settings.SEG_MAX_ATTEMPTS = 2
    sandbox.script(Answer(status=500), Answer(status=500))
    event = order_event()
    for _ in range(2):
        throttle.reset()
        Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
        delivery.deliver(event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts, event.tries) == (Status.FAILED, 2, 2)
    throttle.reset()
    assert operations.retry(Event.objects.filter(pk=event.pk), "ops") == 1
    assert delivery.deliver(event.pk) is Verdict.DELIVERED
    event.refresh_from_db()
    assert (event.attempts, event.tries) == (3, 1)
    numbers = list(Attempt.objects.filter(event=event).values_list("number", flat=True))
    assert numbers == [1, 2, 3]


def track_events(count: int) -> list[Event]:
    """Events of ``count`` customers, one each: none waits on another (lifecycle/ordering.py)."""
    ids = [
        api.track("u1", "Product Viewed", {"id": f"p-{i}"}, context={"traits": {"email": email()}})
        for i in range(count)
    ]
    return list(Event.objects.filter(message_id__in=ids).order_by("pk"))


def test_a_batch_is_claimed_posted_in_order_and_recorded(sandbox: Sandbox) -> None:
    events = track_events(5)
    sandbox.script(Answer(), Answer(status=500), Answer(status=422), default=Answer())
    verdicts = delivery.deliver_many([e.pk for e in events])
    assert verdicts == [
        Verdict.DELIVERED,
        Verdict.RETRY,
        Verdict.FAILED,
        Verdict.DELIVERED,
        Verdict.DELIVERED,
    ]
    assert [r.headers["Idempotency-Key"] for r in sandbox.snapshot()] == [
        e.message_id for e in events
    ]
    statuses = dict(Event.objects.values_list("pk", "status"))
    assert [statuses[e.pk] for e in events] == [
        Status.DELIVERED,
        Status.PENDING,
        Status.FAILED,
        Status.DELIVERED,
        Status.DELIVERED,
    ]
    assert sorted(Attempt.objects.values_list("event_id", "number")) == [(e.pk, 1) for e in events]


def test_a_batch_costs_its_claim_and_one_record_an_event(
    sandbox: Sandbox, django_assert_max_num_queries: Any
) -> None:
    small, large = track_events(2), track_events(20)
    with django_assert_max_num_queries(20) as small_run:
        delivery.deliver_many([e.pk for e in small])
    with django_assert_max_num_queries(100) as large_run:
        delivery.deliver_many([e.pk for e in large])
    # The claim's statements once, then the same few for each outcome: one
    # on PostgreSQL; elsewhere two, in a transaction (here a savepoint).
    per_event = (len(large_run.captured_queries) - len(small_run.captured_queries)) / 18
    assert per_event == (1 if connection.vendor == "postgresql" else 4)
    assert Event.objects.filter(status=Status.DELIVERED).count() == 22


@pytest.mark.django_db(transaction=True)
def test_each_outcome_is_stored_while_the_next_post_is_on_the_wire(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seg counts, as each request arrives and from a connection of its own,
    # the events still shown as sending once the database has run what it was
    # sent. The worker is waiting for Seg's answer meanwhile, so it does nothing
    # more: what it sent before this post is stored without it, as when it is
    # killed now, and only the one now arriving, and those not yet posted, are
    # sent again. (A statement held back in the worker would leave the count
    # high: the worker reads nothing before Seg answers.)
    events = track_events(5)
    sandbox.script(Answer(), Answer(status=500), Answer(status=422), default=Answer())
    sending: list[int] = []
    arrive = sandbox.next_answer

    def next_answer() -> Answer:
        claimed = Event.objects.filter(pk__in=[e.pk for e in events], status=Status.SENDING)
        expected = len(events) - len(sending)
        deadline = time.monotonic() + 5
        while (count := claimed.count()) > expected and time.monotonic() < deadline:
            time.sleep(0.01)
        sending.append(count)
        connection.close()  # this thread's own
        return arrive()

    monkeypatch.setattr(sandbox, "next_answer", next_answer)
    delivery.deliver_many([e.pk for e in events])
    assert sending == [5, 4, 3, 2, 1]
    statuses = set(Event.objects.values_list("status", flat=True))
    assert statuses == {Status.DELIVERED, Status.PENDING, Status.FAILED}


def test_a_batch_skips_events_claimed_elsewhere_or_done(sandbox: Sandbox) -> None:
    events = track_events(3)
    delivery.claim(events[0].pk, timezone.now())  # another worker holds it
    Event.objects.filter(pk=events[1].pk).update(status=Status.DELIVERED)
    assert delivery.deliver_many([e.pk for e in events]) == [Verdict.DELIVERED]
    assert [r.headers["Idempotency-Key"] for r in sandbox.snapshot()] == [events[2].message_id]


def test_a_batch_gives_back_what_it_has_no_lease_left_for(
    sandbox: Sandbox, seg_settings: Any
) -> None:
    # Room for one post only: a lease of 1 s, and answers that take longer.
    seg_settings.SEG_LEASE = timedelta(seconds=1.4)
    seg_settings.SEG_CONNECT_TIMEOUT = 0.2
    seg_settings.SEG_READ_TIMEOUT = 1.0
    sandbox.script(default=Answer(delay=0.5))
    events = track_events(3)
    assert delivery.deliver_many([e.pk for e in events]) == [Verdict.DELIVERED]
    rest = Event.objects.filter(pk__in=[e.pk for e in events[1:]])
    assert {(e.status, e.attempts, e.tries) for e in rest} == {(Status.PENDING, 0, 0)}
    assert len(sandbox.snapshot()) == 1


def test_a_pause_gives_back_the_rest_of_the_batch(sandbox: Sandbox) -> None:
    sandbox.script(Answer(status=429, headers={"Retry-After": "30"}), default=Answer())
    events = track_events(3)
    assert delivery.deliver_many([e.pk for e in events]) == [Verdict.RETRY]
    assert len(sandbox.snapshot()) == 1
    later = timezone.now() + timedelta(seconds=29)
    for event in Event.objects.filter(pk__in=[e.pk for e in events]):
        assert event.status == Status.PENDING and event.next_attempt_at >= later
        assert event.attempts == (1 if event.pk == events[0].pk else 0)


def test_an_interrupted_batch_records_what_seg_already_has(sandbox: Sandbox) -> None:
    sandbox.script(Answer(), Answer(delay=2), default=Answer())
    events = track_events(3)

    def interrupt(signum: int, frame: Any) -> None:
        raise SoftTimeLimitExceeded  # what Celery raises at a task's soft time limit

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)  # during the second, slow, post
    try:
        with pytest.raises(SoftTimeLimitExceeded):
            delivery.deliver_many([e.pk for e in events])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    statuses = dict(Event.objects.values_list("pk", "status"))
    assert statuses[events[0].pk] == Status.DELIVERED  # not sent again once its lease lapses
    assert [a.event_id for a in Attempt.objects.all()] == [events[0].pk]
    assert {statuses[e.pk] for e in events[1:]} == {Status.SENDING}


# --- Answers read right: redirects, long waits, unsendable headers -----------


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_is_retried_showing_where_it_pointed(
    sandbox: Sandbox, status: int
) -> None:
    moved = f"{sandbox.url}/elsewhere"
    sandbox.script(Answer(status=status, headers={"Location": moved}), default=Answer())
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.RETRY
    [received] = sandbox.snapshot()  # no GET (or second POST) followed it
    assert received.path.endswith("/order-placed")
    event.refresh_from_db()
    assert event.status == Status.PENDING and event.delivered_at is None
    attempt = Attempt.objects.get(event=event)
    assert (attempt.status_code, attempt.verdict) == (status, "retry")
    assert moved in attempt.error and "SEG_TRACKER_URL" in attempt.error


def test_a_long_retry_after_waits_past_the_window_capped_and_does_not_fail(
    sandbox: Sandbox, seg_settings: Any
) -> None:
    seg_settings.SEG_RETRY_WINDOW = timedelta(hours=4)
    seg_settings.SEG_RETRY_AFTER_CAP = timedelta(hours=1)
    sandbox.script(Answer(status=429, headers={"Retry-After": "21600"}), default=Answer())
    event = order_event()
    before = timezone.now()
    assert delivery.deliver(event.pk) is Verdict.RETRY
    event.refresh_from_db()
    assert event.status == Status.PENDING
    wait = event.next_attempt_at - before
    assert timedelta(minutes=59) < wait <= timedelta(hours=1, seconds=5)
    # The pause every worker shares is capped the same way.
    pause_ms = throttle.client().pttl(throttle.PAUSE)
    assert 0 < pause_ms <= (3600 + 1) * 1000


def test_a_retry_after_past_the_window_still_gets_its_attempt(
    sandbox: Sandbox, seg_settings: Any
) -> None:
    seg_settings.SEG_RETRY_WINDOW = 1
    sandbox.script(Answer(status=503, headers={"Retry-After": "5"}), default=Answer())
    event = order_event()
    assert delivery.deliver(event.pk) is Verdict.RETRY
    event.refresh_from_db()
    assert event.status == Status.PENDING
    assert event.next_attempt_at - timezone.now() > timedelta(seconds=3)


def test_the_attempt_budget_still_applies_to_retry_after(
    sandbox: Sandbox, seg_settings: Any
) -> None:
    seg_settings.SEG_MAX_ATTEMPTS = 2
    sandbox.script(default=Answer(status=429, headers={"Retry-After": "1"}))
    event = order_event()
    verdicts = []
    for _ in range(2):
        throttle.reset()
        Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
        verdicts.append(delivery.deliver(event.pk))
    assert verdicts == [Verdict.RETRY, Verdict.FAILED]


@pytest.mark.parametrize(
    "message_id",
    [
        "注文-2026-0001",  # outside Latin-1: requests cannot encode the header
        "café-1",  # Latin-1, but not ASCII
        "tab\there",  # a control character
        " order-1",  # requests refuses a header value with a leading space
        "order-1 ",  # and HTTP trims a trailing one
        "   ",
    ],
)
def test_an_unsendable_message_id_is_hashed_into_the_key_and_kept_in_the_body(
    sandbox: Sandbox, message_id: str
) -> None:
    ids = [
        api.track("u1", "Product Viewed", {"id": "p-1"}, context={"traits": {"email": email()}}),
        api.track(
            "u1",
            "Product Viewed",
            {"id": "p-2"},
            context={"traits": {"email": email()}},
            message_id=message_id,
        ),
        api.track("u1", "Product Viewed", {"id": "p-3"}, context={"traits": {"email": email()}}),
    ]
    events = [Event.objects.get(message_id=i) for i in ids]
    verdicts = delivery.deliver_many([e.pk for e in events])
    assert verdicts == [Verdict.DELIVERED] * 3
    received = sandbox.snapshot()
    assert [r.body["MessageId"] for r in received] == ids
    expected = "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    assert [r.headers["Idempotency-Key"] for r in received] == [ids[0], expected, ids[2]]
    # The same key on every attempt.
    assert tracker.idempotency_key(message_id) == expected


@pytest.mark.parametrize(
    ("message_id", "key"),
    [
        ("m-1", "m-1"),
        ("~!@#$%^&*() {}", "~!@#$%^&*() {}"),
        ("a" * 255, "a" * 255),
        ("a" * 256, "sha256:" + hashlib.sha256(b"a" * 256).hexdigest()),
        ("\x7f", "sha256:" + hashlib.sha256(b"\x7f").hexdigest()),
        ("ü", "sha256:" + hashlib.sha256("ü".encode()).hexdigest()),
        ("", ""),
        (" m", "sha256:" + hashlib.sha256(b" m").hexdigest()),
        ("m ", "sha256:" + hashlib.sha256(b"m ").hexdigest()),
        ("a b", "a b"),
    ],
)
def test_idempotency_key(message_id: str, key: str) -> None:
    assert tracker.idempotency_key(message_id) == key


def test_an_error_building_one_request_is_its_attempt_and_the_batch_goes_on(
    sandbox: Sandbox,
) -> None:
    events = track_events(3)
    claims = delivery.claim_many([e.pk for e in events], timezone.now())
    # A payload that cannot be encoded (a lone surrogate, which no database
    # keeps in JSON but a bug could build): the encoder raises, not the network.
    claims[1].event.payload = {"Event": "ProductView", "Name": "\ud800"}
    verdicts = [outcomes.record(delivery.attempt(held)) for held in claims]
    assert verdicts == [Verdict.DELIVERED, Verdict.RETRY, Verdict.DELIVERED]
    assert len(sandbox.snapshot()) == 2
    broken = Event.objects.get(pk=events[1].pk)
    assert broken.status == Status.PENDING and "UnicodeEncodeError" in broken.last_error
    attempt = Attempt.objects.get(event=broken)
    assert attempt.error_class == "UnicodeEncodeError" and "surrogate" in attempt.error
    assert attempt.verdict == "retry" and attempt.status_code is None
    assert not throttle.is_open()


@pytest.mark.parametrize("status", [200, 500, 422, 302])
def test_an_answer_with_bytes_no_database_keeps_is_still_recorded(
    sandbox: Sandbox, status: int
) -> None:
    body = b"\x00\xff\xfe binary \x00 garbage \xed\xa0\x80"
    headers = {"Location": "http://x/\x7f"} if status == 302 else {}
    sandbox.script(Answer(status=status, body=body, headers=headers))
    event = order_event()
    delivery.deliver(event.pk)
    attempt = Attempt.objects.get(event=event)
    assert attempt.status_code == status
    assert "\x00" not in attempt.response_excerpt and "garbage" in attempt.response_excerpt


@pytest.fixture
def fresh_environment() -> Iterator[None]:
    """The tracker's reading of the environment, forgotten around a test that changes it."""
    tracker.environment.cache_clear()
    yield
    tracker.environment.cache_clear()


@pytest.mark.parametrize("bypassed", [False, True])
def test_posts_go_through_the_proxy_the_environment_names(
    sandbox: Sandbox,
    seg_settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    fresh_environment: None,
    bypassed: bool,
) -> None:
    # As requests does for a session that trusts the environment: HTTP_PROXY is
    # used (here the sandbox, playing the proxy, gets the absolute URL), unless
    # NO_PROXY names the host.
    monkeypatch.setenv("HTTP_PROXY", sandbox.url)
    monkeypatch.setenv("NO_PROXY", "seg.invalid" if bypassed else "")
    seg_settings.SEG_TRACKER_URL = "http://seg.invalid"
    (event,) = track_events(1)
    verdict = delivery.deliver(event.pk)
    if bypassed:
        assert verdict is Verdict.RETRY and not sandbox.snapshot()  # no such host
    else:
        assert verdict is Verdict.DELIVERED
        assert sandbox.snapshot()[0].path.startswith("http://seg.invalid/django/")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("session", ["prepared", "lost its statements", "not preparing"])
def test_an_outcome_is_stored_whatever_the_session_keeps_of_prepared_statements(
    sandbox: Sandbox, session: str
) -> None:
    # On PostgreSQL, with the connection's prepare_threshold set (OPTIONS), the
    # outcome's statement is prepared once per session. A pooler resetting the
    # session (DISCARD ALL) drops it: it is prepared again. With it None (Django's
    # default, psycopg's switch for such poolers) it is sent unnamed every time.
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")
    first, second = track_events(2)
    connection.ensure_connection()
    raw = connection.connection
    threshold = raw.prepare_threshold
    raw.prepare_threshold = None if session == "not preparing" else 5
    try:
        assert delivery.deliver(first.pk) is Verdict.DELIVERED
        if session == "lost its statements":
            with connection.cursor() as cursor:
                cursor.execute("DEALLOCATE ALL")
        assert delivery.deliver(second.pk) is Verdict.DELIVERED
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'seg_%%'")
            prepared = cursor.fetchone()[0]
    finally:
        raw.prepare_threshold = threshold
    assert prepared == (0 if session == "not preparing" else 1)
    assert Event.objects.filter(status=Status.DELIVERED).count() == 2
    assert Attempt.objects.count() == 2


def test_a_rule_made_after_the_event_was_stored_keeps_it_from_seg(sandbox: Sandbox) -> None:
    """Ingest reads the rules as cached (a few seconds); the claim reads them fresh."""
    event = order_event()
    kept = api.track(
        "u2", "Order Completed", {"orderId": "o-2"}, context={"traits": {"email": email()}}
    )
    rule = SuppressionRule.objects.create(email="ann@example.com", reason="test orders")
    assert delivery.deliver_many([event.pk, Event.objects.get(message_id=kept).pk]) == [
        Verdict.DELIVERED
    ]
    event.refresh_from_db()
    assert (event.status, event.rule_id) == (Status.SUPPRESSED, rule.pk)
    assert [r.body["Email"] for r in sandbox.snapshot()] != ["ann@example.com"]
    assert len(sandbox.snapshot()) == 1


@pytest.mark.django_db(transaction=True)
def test_an_outcome_stored_again_after_its_connection_was_lost_is_stored_once(
    sandbox: Sandbox,
) -> None:
    # The first statement may have run before the connection went: stored
    # again on a fresh connection, the attempt is not written twice, and the
    # event is not moved twice.
    (event,) = track_events(1)
    [held] = delivery.claim_many([event.pk], timezone.now())
    recording = outcomes.send_record(delivery.attempt(held))
    assert recording.settle() is Verdict.DELIVERED
    assert outcomes.store_again(recording) is False
    assert Attempt.objects.filter(event=event).count() == 1
    event.refresh_from_db()
    assert event.status == Status.DELIVERED


def test_a_task_drains_the_due_events_of_its_source_in_each_customers_order(
    sandbox: Sandbox,
) -> None:
    def track(email: str, minute: int) -> Event:
        message_id = api.track(
            "u1",
            "Product Viewed",
            {"id": str(minute)},
            context={"traits": {"email": email}},
            timestamp=timezone.now() - timedelta(minutes=60 - minute),
        )
        return Event.objects.get(message_id=message_id)

    ann, bob = email(), email()
    first, woken, third = track(ann, 1), track(bob, 2), track(ann, 3)
    page = track(bob, 4)
    Event.objects.filter(pk=page.pk).update(source="browser")
    assert tasks.deliver_events([woken.pk]) == ["delivered"] * 3  # its source's due events
    sent = [r.headers["Idempotency-Key"] for r in sandbox.snapshot()]
    assert sent == [first.message_id, woken.message_id, third.message_id]  # in the shop's order
    assert Event.objects.get(pk=page.pk).status == Status.PENDING  # a page's: not this task's
    assert delivery.deliver_many([page.pk]) == [Verdict.DELIVERED]


def test_a_drain_is_not_filled_by_events_waiting_behind_one_retried_later(
    sandbox: Sandbox, settings: Any
) -> None:
    settings.SEG_DELIVERY_BATCH = 3

    def track(address: str, minute: int) -> Event:
        message_id = api.track(
            "u1",
            "Product Viewed",
            {"id": str(minute)},
            context={"traits": {"email": address}},
            timestamp=timezone.now() - timedelta(minutes=60 - minute),
        )
        return Event.objects.get(message_id=message_id)

    ann, bob = email(), email()
    retried = track(ann, 1)
    behind = [track(ann, 2 + n) for n in range(4)]  # due, but waiting on the one retried
    woken, other = track(bob, 10), track(bob, 11)
    later = timezone.now() + timedelta(minutes=5)
    Event.objects.filter(pk=retried.pk).update(next_attempt_at=later)
    # Ann's waiting events are due longer than Bob's second: a drain that took them
    # first would fill its batch with events it then cannot post.
    Event.objects.filter(pk__in=[e.pk for e in behind]).update(
        next_attempt_at=timezone.now() - timedelta(minutes=1)
    )
    assert tasks.deliver_events([woken.pk]) == ["delivered"] * 2
    sent = [r.headers["Idempotency-Key"] for r in sandbox.snapshot()]
    assert sent == [woken.message_id, other.message_id]
    assert {e.status for e in Event.objects.filter(pk__in=[e.pk for e in behind])} == {
        Status.PENDING
    }


def test_a_task_whose_own_events_were_erased_still_drains_its_queues_source(
    sandbox: Sandbox,
) -> None:
    # Commits that found a task of their source waiting queued none of their own: that
    # task drains them even when its own rows are gone by the time it starts.
    def track(address: str) -> Event:
        message_id = api.track(
            "u1", "Product Viewed", {"id": "1"}, context={"traits": {"email": address}}
        )
        return Event.objects.get(message_id=message_id)

    gone, waiting = track(email()), track(email())
    Event.objects.filter(pk=gone.pk).delete()
    source = tasks.queued_source({"exchange": "", "routing_key": QUEUE})
    assert source == "server"
    assert tasks.queued_source(None) is None  # called directly
    assert tasks.queued_source({"routing_key": "shop"}) is None
    assert delivery.deliver_many([gone.pk], True, source) == [Verdict.DELIVERED]
    assert [r.headers["Idempotency-Key"] for r in sandbox.snapshot()] == [waiting.message_id]
