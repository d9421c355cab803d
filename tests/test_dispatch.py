"""Publishing never waits on a broker that is down: it pauses, leaving the rows to the sweeper."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.utils import timezone

from integrations import api
from integrations.delivery import outbox
from integrations.lifecycle import operations
from integrations.lifecycle import wakeups as dispatch
from integrations.models import Event, EventQuerySet, Status

from .test_outbox import queued_ids

pytestmark = pytest.mark.django_db


class Clock:
    """The monotonic clock dispatch reads, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(dispatch, "monotonic", clock)
    return clock


def stored(count: int) -> list[int]:
    """Pending events, stored without publishing (the test's transaction never commits)."""
    message_ids = [
        api.track(
            "u1",
            "Product Viewed",
            {"id": str(i)},
            context={"traits": {"email": f"{i}-{uuid.uuid4().hex[:8]}@b.co"}},
        )
        for i in range(count)
    ]
    return list(
        Event.objects.filter(message_id__in=message_ids).order_by("id").values_list("pk", flat=True)
    )


def connections(client: redis.Redis) -> int:
    return int(client.info("stats")["total_connections_received"])


def unqueued(ids: list[int]) -> list[int]:
    return sorted(
        Event.objects.filter(pk__in=ids, enqueued_at__isnull=True).values_list("pk", flat=True)
    )


def test_a_failed_publish_pauses_publishing_then_it_resumes(
    private_redis: Any, broker_at: Any, clock: Clock, settings: Any
) -> None:
    settings.SEG_PUBLISH_PAUSE = 5
    broker_at(private_redis.url)
    first, second, third = stored(3)
    private_redis.stop()
    started = time.perf_counter()
    assert dispatch.queue([first]) is False
    assert time.perf_counter() - started < 0.5  # one refused connect, no retries
    private_redis.start()
    client = redis.Redis.from_url(private_redis.url)
    before = connections(client)
    clock.now += 4.9
    assert dispatch.queue([second]) is False
    assert connections(client) == before  # the broker is up, and was not asked
    assert client.llen("seg") == 0
    clock.now += 0.2
    assert dispatch.queue([third]) is True
    assert queued_ids(client) == [third]
    assert unqueued([first, second, third]) == [first, second]  # for the sweeper


def operated(status: str, operation: Callable[[EventQuerySet, str], int]) -> Callable[..., int]:
    """An operator's action on the events, once they are in ``status``."""

    def act(ids: list[int]) -> int:
        Event.objects.filter(pk__in=ids).update(status=status)
        return operation(Event.objects.filter(pk__in=ids), "an operator")

    return act


PUBLISHERS: dict[str, Callable[[list[int]], object]] = {
    "one event at a time": lambda ids: [dispatch.queue([one]) for one in ids],
    "a batch": lambda ids: dispatch.queue(ids),
    "a fan-out": lambda ids: dispatch.queue(ids * 30),
    "a countdown": lambda ids: dispatch.queue(ids, timedelta(seconds=5)),
    # Late enough that every stored wake-up counts as lost.
    "the sweeper": lambda ids: outbox.sweep(timezone.now() + timedelta(hours=1)),
    "a retry": operated(Status.FAILED, operations.retry),
    "a replay": operated(Status.DELIVERED, operations.replay),
}


@pytest.mark.parametrize("publish", PUBLISHERS.values(), ids=PUBLISHERS.keys())
def test_no_publisher_touches_the_broker_while_paused(
    publish: Callable[[list[int]], object],
    private_redis: Any,
    broker_at: Any,
    clock: Clock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    broker_at(private_redis.url)
    failed, *ids = stored(4)
    private_redis.stop()
    assert dispatch.queue([failed]) is False
    private_redis.start()
    client = redis.Redis.from_url(private_redis.url)
    before = connections(client)
    clock.now += 1
    with django_capture_on_commit_callbacks(execute=True):
        publish(ids)
    assert connections(client) == before
    assert client.llen("seg") == 0
    assert unqueued(ids) == ids


def test_a_commit_queues_no_task_while_one_of_its_source_waits_to_start(
    private_redis: Any, broker_at: Any
) -> None:
    broker_at(private_redis.url)
    client = redis.Redis.from_url(private_redis.url)
    first, second, third = stored(3)
    assert dispatch.wake("server", lambda: [first]) is True
    assert dispatch.wake("server", lambda: [second]) is True  # the first one's task drains it
    assert queued_ids(client) == [first]
    assert dispatch.wake("browser", lambda: [third]) is True  # another source: a task of its own
    assert client.llen("seg_browser") == 1
    dispatch.started()  # a worker began the waiting task: commits from now on queue their own
    assert dispatch.wake("server", lambda: [third]) is True
    assert queued_ids(client) == [first, third]


def test_a_wake_up_mark_never_outlives_a_publish_that_failed(
    private_redis: Any, broker_at: Any
) -> None:
    broker_at(private_redis.url)
    first, second = stored(2)
    private_redis.stop()
    assert dispatch.wake("server", lambda: [first]) is False
    assert unqueued([first]) == [first]  # left for the sweeper
    private_redis.start()
    dispatch.resume()
    assert dispatch.wake("server", lambda: [second]) is True
    assert queued_ids(redis.Redis.from_url(private_redis.url)) == [second]
