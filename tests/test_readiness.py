"""Liveness, readiness and ``seg_health`` against real processes: gunicorn, a Celery
worker, and a broker that goes away."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import requests

from integrations.dev.sandbox import Sandbox

from .conftest import ROOT, RedisServer, WebServer, Worker, child_env, wait_until

EVERYTHING = "database,broker,worker"


TOKEN = "ops-token"


def ready(web: WebServer, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    """/readyz's answer; what each check saw only with the token that reads /metrics."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = requests.get(f"{web.url}/readyz", headers=headers, timeout=30)
    return answer.status_code, answer.json()


def seg_health(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "seg_health", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db(transaction=True)
def test_ready_once_a_worker_answers(
    sandbox: Sandbox,
    start_web: Callable[..., WebServer],
    start_worker: Callable[..., Worker],
) -> None:
    web = start_web(SEG_READY_REQUIRES=EVERYTHING, SEG_METRICS_TOKEN=TOKEN)
    live = requests.get(f"{web.url}/healthz", timeout=30)
    assert (live.status_code, live.json()) == (200, {"status": "ok"})

    status, body = ready(web)
    assert status == 503
    assert body["status"] == "fail"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert not body["checks"]["worker"]["ok"]
    assert "no worker answered" in body["checks"]["worker"]["detail"]
    status, body = ready(web, token=None)  # to anyone else: what failed, not what it saw
    assert status == 503
    assert body["checks"]["worker"] == {"ok": False, "required": True}
    env = child_env(sandbox)
    no_worker = seg_health(env)
    assert no_worker.returncode == 1, no_worker.stdout + no_worker.stderr
    assert "worker" in no_worker.stderr and "FAIL" in no_worker.stdout
    assert seg_health(env, "--require", "database,broker").returncode == 0

    start_worker(concurrency=1)
    status, body = wait_until(lambda: (answer := ready(web))[0] == 200 and answer)
    assert body["status"] == "ok"
    assert all(check["ok"] and check["required"] for check in body["checks"].values())
    assert "answered: w1@" in body["checks"]["worker"]["detail"]
    healthy = seg_health(env, "--json")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert json.loads(healthy.stdout)["ok"] is True


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_goes_away(
    sandbox: Sandbox,
    start_web: Callable[..., WebServer],
    private_redis: RedisServer,
) -> None:
    """By default only the database makes the web unready: calls are still stored while
    the broker is away (the sweeper queues them later), so the broker is reported and, when
    required, fails readiness."""
    plain = start_web(REDIS_URL=private_redis.url, SEG_METRICS_TOKEN=TOKEN)
    strict = start_web(
        REDIS_URL=private_redis.url, SEG_READY_REQUIRES="database,broker", SEG_METRICS_TOKEN=TOKEN
    )
    assert ready(strict)[0] == 200
    private_redis.stop()

    status, body = ready(strict)
    assert status == 503
    assert not body["checks"]["broker"]["ok"]
    assert body["checks"]["worker"]["detail"] == "not asked: the broker cannot be reached"
    status, body = ready(plain)
    assert status == 200
    assert body["checks"]["database"]["ok"] and body["checks"]["database"]["required"]
    assert not body["checks"]["broker"]["ok"] and not body["checks"]["broker"]["required"]
    assert requests.get(f"{plain.url}/healthz", timeout=30).status_code == 200
    down = seg_health(child_env(sandbox, REDIS_URL=private_redis.url), "--require", "broker")
    assert down.returncode == 1
    assert "broker" in down.stderr

    private_redis.start()
    assert wait_until(lambda: ready(strict)[0] == 200, timeout=30)


@pytest.mark.django_db(transaction=True)
def test_the_probes_answer_a_host_allowed_hosts_does_not_list(
    start_web: Callable[..., WebServer],
) -> None:
    # The kubelet's Host: the pod's address, which ALLOWED_HOSTS (localhost and loopback
    # here) does not name.
    web = start_web(SEG_METRICS_TOKEN=TOKEN, DEBUG="")
    pod = {"Host": "10.244.3.17:8000"}
    live = requests.get(f"{web.url}/healthz", headers=pod, timeout=30)
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    answer = requests.get(f"{web.url}/readyz", headers=pod, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"]["database"] == {"ok": True, "required": True}
    # Everything else keeps Django's host validation: /metrics, even with its token.
    scrape = pod | {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(f"{web.url}/metrics", headers=scrape, timeout=30).status_code == 400
    listed = scrape | {"Host": "localhost"}
    assert requests.get(f"{web.url}/metrics", headers=listed, timeout=30).status_code == 200
    home = requests.get(f"{web.url}/", headers=pod, timeout=30)
    assert home.status_code == 400
    # readyz's details (hosts, errors) only for a Host ALLOWED_HOSTS names: a page whose
    # name an attacker points at the pod (DNS rebinding) reads the verdicts alone.
    detailed = requests.get(f"{web.url}/readyz", headers=listed, timeout=30).json()["checks"]
    assert "detail" in detailed["database"]
    rebound = requests.get(f"{web.url}/readyz", headers=scrape, timeout=30).json()["checks"]
    assert rebound["database"] == {"ok": True, "required": True}
