"""One of ``benchmarks.run.message``'s calls through the app's Python API: what the
peers' comparison and the PostgreSQL-work measurement each record (import it where
Django is set up, as ``integrations.api`` needs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from integrations import api


def record(message: dict[str, Any]) -> None:
    """Store ``message`` (a page or a track, as ``benchmarks.run.message`` builds it) with
    ``integrations.api``, in the caller's transaction if there is one."""
    common: dict[str, Any] = {
        "context": message["context"],
        "message_id": message["messageId"],
        "timestamp": datetime.fromisoformat(message["timestamp"]),
    }
    if message["type"] == "page":
        api.page(
            message["userId"], name=message["name"], properties=message["properties"], **common
        )
    else:
        api.track(message["userId"], message["event"], message["properties"], **common)
