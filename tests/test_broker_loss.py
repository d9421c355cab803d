"""The worker's consumer against a broker connection Celery has let go of
(integrations/worker.py), with a real Redis and kombu's own consumer."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu import Connection, Consumer, Message, Producer, Queue

from integrations import worker

logger = logging.getLogger(__name__)


def receive(connection: Connection, name: str) -> Message:
    """Publish one message to ``name`` and take it as a worker does: consumed, unacked."""
    queue = Queue(name)
    Producer(connection.default_channel).publish({"n": 1}, routing_key=name, declare=[queue])
    received: list[Message] = []
    on_message = [lambda _, message: received.append(message)]
    Consumer(connection.default_channel, [queue], callbacks=on_message).consume()
    connection.drain_events(timeout=5)
    return received[0]


def test_an_ack_that_runs_after_its_connection_is_lost_is_skipped(private_redis: Any) -> None:
    # Celery's consumer collects and closes a broken connection, then runs the acks
    # its event loop had scheduled. On that channel kombu's Redis transport raises
    # AttributeError (its client is gone), which would end the worker.
    connection = Connection(private_redis.url, transport_options={"max_retries": 0})
    message = receive(connection, "seg-broker-loss")
    errors = connection.connection_errors
    private_redis.stop()
    connection.collect()
    worker._tolerant_close(connection.close)()
    private_redis.start()
    assert worker._closed(message.channel)
    assert worker._unless_closed(message.ack_log_error)(logger, errors) is None
    assert worker._unless_closed(message.reject_log_error)(logger, errors, True) is None
    assert not message.acknowledged


def test_an_ack_on_an_open_connection_still_acknowledges(private_redis: Any) -> None:
    with Connection(private_redis.url) as connection:
        message = receive(connection, "seg-broker-open")
        assert not worker._closed(message.channel)
        worker._unless_closed(message.ack_log_error)(logger, connection.connection_errors)
        assert message.acknowledged


def test_celery_schedules_each_messages_ack_through_the_hook_the_worker_overrides() -> None:
    # The consumer's fix rides on Celery 5.7 handing each task message's ack and reject to
    # Consumer.call_soon_ack: should a release stop doing so, this says it.
    handler = inspect.getsource(CeleryConsumer.create_task_handler)
    assert "call_soon_ack = self.call_soon_ack" in handler
    assert "(message.ack_log_error,)" in handler and "(message.reject_log_error,)" in handler
    assert "call_soon_ack" in vars(worker.Consumer)  # the override
