"""A Celery worker consumer that survives losing Redis with messages unacknowledged.

Celery 5.7 closes the broken broker connection after collecting it. With the
Redis transport, two things then touch that closed connection and raise
``AttributeError`` (the transport's client is gone), which the worker takes for
an unrecoverable error: it exits, leaving nothing to deliver once Redis is back.

- The close itself, when the consumer both holds unacknowledged messages and
  waits on the queue: it tries to put the messages back through the transport
  that ``collect()`` has already let go of.
- An acknowledgement of a message the old connection delivered. A late-acked
  task that ends just before the loss is noticed has its ack scheduled on the
  event loop (``Consumer.call_soon_ack``); the loop runs it after the close, on
  the next connection's loop. So does a task that ends after it.

This consumer makes both tolerant. A message whose acknowledgement was lost this
way is not lost: closing its channel put it back on the queue, or it stays in
Redis's unacknowledged set until the visibility timeout restores it. Running its
task again does nothing, as the event's row already says what happened, and the
sweeper requeues events from the database sooner than either.
Use it with ``CELERY_WORKER_CONSUMER = "integrations.worker:Consumer"``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

logger = logging.getLogger(__name__)


class Consumer(CeleryConsumer):
    def on_connection_error_after_connected(self, exc: Exception) -> None:
        broken = self.connection
        if broken is not None:
            broken.close = _tolerant_close(broken.close)  # type: ignore[method-assign]
        super().on_connection_error_after_connected(exc)

    def call_soon_ack(self, p: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Schedule a message's ack or reject (``Message.ack_log_error`` or
        ``reject_log_error``), skipped when it runs after its connection closed."""
        # Celery 5.7's own method, which celery-types does not list yet.
        return super().call_soon_ack(_unless_closed(p), *args, **kwargs)  # type: ignore[misc]


def _tolerant_close(close: Any) -> Any:
    def close_broken_connection() -> None:
        try:
            close()
        except AttributeError:
            logger.warning(
                "Broker connection lost with messages unacknowledged; they stay in Redis "
                "until the visibility timeout, and the sweeper requeues their events."
            )

    return close_broken_connection


def _unless_closed(settle: Callable[..., Any]) -> Callable[..., Any]:
    """``settle``, a bound method of a kombu ``Message``, run only if the message's
    channel still belongs to an open connection."""
    message = getattr(settle, "__self__", None)

    def settle_if_open(*args: Any, **kwargs: Any) -> Any:
        channel = getattr(message, "channel", None)
        if channel is not None and _closed(channel):
            logger.warning(
                "A task ended after the broker connection that delivered it was lost; "
                "its message is not acknowledged, and Redis delivers it again."
            )
            return None
        return settle(*args, **kwargs)

    return settle_if_open


def _closed(channel: Any) -> bool:
    """Whether a kombu channel's connection is closed (virtual transports: the channel
    is marked closed, or its transport has let go of its client)."""
    if getattr(channel, "closed", False):
        return True
    transport = getattr(channel, "connection", None)
    return transport is None or getattr(transport, "client", True) is None
