"""A Celery worker consumer that survives losing Redis with messages unacknowledged.

Celery 5.7 closes the broken broker connection after collecting it. With the
Redis transport, when the connection drops while the consumer both holds
unacknowledged messages and waits on the queue, that close tries to put the
messages back through a transport that ``collect()`` has already let go of,
and raises ``AttributeError``. The worker takes it for an unrecoverable error
and exits, leaving nothing to deliver once Redis is back.

This consumer makes that one close tolerant: the messages it could not put back
stay in Redis's unacknowledged set until the visibility timeout restores them,
and the sweeper requeues their events from the database sooner than that.
Use it with ``CELERY_WORKER_CONSUMER = "integrations.worker:Consumer"``.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

logger = logging.getLogger(__name__)


class Consumer(CeleryConsumer):
    def on_connection_error_after_connected(self, exc: Exception) -> None:
        broken = self.connection
        if broken is not None:
            broken.close = _tolerant_close(broken.close)  # type: ignore[method-assign]
        super().on_connection_error_after_connected(exc)


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
