"""/metrics: counts from real gunicorn workers and a real Celery worker, the gauges read at
scrape time, who may scrape, and the ops files naming only what the app exports."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from django.test import Client
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from integrations import api, conf, core
from integrations.delivery import throttle
from integrations.dev.sandbox import Answer, Sandbox
from integrations.ingest import ingest
from integrations.models import Event, Source

from .conftest import BROWSER_KEY, ROOT, WRITE_KEY, WebServer, Worker, free_port, wait_until

TOKEN = "scrape-token"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(web: WebServer) -> Samples:
    answer = requests.get(
        f"{web.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return parse(answer.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scraped_once_delivered(port: int, delivered: int) -> Samples:
    """The worker's counters served at ``port``, once they count ``delivered`` deliveries."""

    def counted() -> Samples | None:
        answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        samples = parse(answer.text)
        done = value(samples, "seg_delivery_attempts_total", outcome="delivered") == delivered
        return samples if done else None

    found: Samples = wait_until(counted, timeout=60)
    return found


def counted_by(directory: Path, pids: set[int]) -> dict[int, float]:
    """Calls received as counted in each of ``pids``' own file."""
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        if pid in pids:
            metrics = MultiProcessCollector.merge([str(path)], accumulate=True)  # type: ignore[no-untyped-call]
            counts[pid] = sum(
                sample.value
                for metric in metrics
                if metric.name == "seg_events_received"
                for sample in metric.samples
            )
    return counts


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.add(int(entry.name))
    return found


@pytest.mark.django_db(transaction=True)
def test_counts_move_across_gunicorn_workers_and_a_celery_worker(
    tmp_path: Path,
    sandbox: Sandbox,
    start_web: Callable[..., WebServer],
    start_worker: Callable[..., Worker],
) -> None:
    counted = tmp_path / "prometheus"
    counted.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(counted), "SEG_METRICS_TOKEN": TOKEN}
    start_worker(concurrency=2, **env)
    web = start_web(SEG_BROWSER_RATE_LIMIT="0", **env)

    def booted() -> set[int] | None:
        found = children(web.proc.pid)
        return found if len(found) == 2 else None

    web_workers: set[int] = wait_until(booted)
    before = scrape(web)
    assert value(before, "seg_events_received_total", call_type="identify", key_kind="server") == 0
    # Seg's first two answers are transient: two retries before the first delivery.
    sandbox.script(Answer(status=503), Answer(status=503))

    def post(call: str, body: dict[str, Any]) -> None:
        answer = requests.post(f"{web.url}/seg/v1/{call}", json=body, timeout=30)
        assert answer.status_code == 200, answer.text

    # Each gunicorn worker in turn takes calls while the other is stopped (it cannot
    # accept), so each counts its own, and the scrape adds both.
    identifies, each = 0, 6
    with ThreadPoolExecutor(4) as pool:
        for pid in sorted(web_workers):
            others = web_workers - {pid}
            for other in others:
                os.kill(other, signal.SIGSTOP)
            try:
                users = [f"u-{uuid.uuid4()}" for _ in range(each)]
                bodies = [
                    {"userId": u, "traits": {"email": f"{u}@example.com"}, "writeKey": WRITE_KEY}
                    for u in users
                ]
                list(pool.map(lambda body: post("identify", body), bodies))
            finally:
                for other in others:
                    os.kill(other, signal.SIGCONT)
            identifies += each
    assert counted_by(counted, web_workers) == dict.fromkeys(web_workers, each)
    for n in range(3):  # a page's anonymous visitor: held
        post("page", {"anonymousId": f"a-{n}", "name": "Home", "writeKey": BROWSER_KEY})
    withheld = {"userId": "w", "traits": {"email": "w@example.com"}, "writeKey": WRITE_KEY}
    post("identify", withheld | {"integrations": {"Seg": False}})

    def delivered() -> Samples | None:
        samples = scrape(web)
        done = value(samples, "seg_delivery_attempts_total", outcome="delivered")
        return samples if done >= identifies else None

    after = wait_until(delivered, timeout=90)
    assert len(sandbox.delivered()) == identifies

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("seg_events_received_total", call_type="identify", key_kind="server") == (
        identifies + 1
    )
    assert moved("seg_events_received_total", call_type="page", key_kind="browser") == 3
    assert moved("seg_events_received_total", call_type="track", key_kind="server") == 0
    assert moved("seg_events_withheld_total", reason="integrations") == 1
    assert moved("seg_events_withheld_total", reason="consent") == 0
    assert moved("seg_delivery_attempts_total", outcome="delivered") == identifies
    assert moved("seg_delivery_attempts_total", outcome="retry") == 2
    assert moved("seg_delivery_attempts_total", outcome="failed") == 0
    assert moved("seg_delivery_latency_seconds_count") == identifies
    assert moved("seg_delivery_attempt_seconds_count") == identifies + 2
    assert 0 < moved("seg_delivery_latency_seconds_sum") < 60 * identifies
    assert value(after, "seg_held_events") == 3
    assert value(after, "seg_due_events") == 0
    assert value(after, "seg_due_oldest_seconds") == 0
    assert value(after, "seg_circuit_open") == 0
    assert value(after, "seg_state_up", source="database") == 1
    assert value(after, "seg_state_up", source="redis") == 1
    assert 0 < time.time() - value(after, "seg_last_attempt_timestamp_seconds") < 60
    # No label carries an id or an email.
    assert not [key for key in after if any("@" in v or "u-" in v for _, v in key[1])]


@pytest.mark.django_db(transaction=True)
def test_a_worker_on_a_host_of_its_own_serves_its_counters(
    tmp_path: Path, sandbox: Sandbox, start_worker: Callable[..., Worker]
) -> None:
    port = free_port()
    start_worker(
        concurrency=2,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
        SEG_WORKER_METRICS_BIND=f"127.0.0.1:{port}",
    )
    ingest([{"type": "identify", "userId": "solo", "traits": {"email": "solo@example.com"}}])

    samples = scraped_once_delivered(port, 1)
    assert value(samples, "seg_delivery_latency_seconds_count") == 1
    assert not [name for name, _ in samples if name == "seg_due_events"]  # the web's


@pytest.mark.django_db(transaction=True)
def test_delivery_time_runs_from_the_release_receipt_time_from_the_receipt(
    tmp_path: Path, sandbox: Sandbox, start_worker: Callable[..., Worker]
) -> None:
    port = free_port()
    start_worker(
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path), SEG_WORKER_METRICS_BIND=f"127.0.0.1:{port}"
    )
    # A visitor's page view, held; they log in an hour later and the identify releases it.
    ingest([{"type": "page", "anonymousId": "late", "name": "Home"}], source=Source.BROWSER)
    held = Event.objects.get(anonymous_id="late")
    Event.objects.filter(pk=held.pk).update(received_at=held.received_at - timedelta(hours=1))
    identify = {"type": "identify", "userId": "late-u", "anonymousId": "late"}
    ingest([identify | {"traits": {"email": "late@example.com"}}])

    samples = scraped_once_delivered(port, 2)
    assert value(samples, "seg_delivery_latency_seconds_count") == 2
    assert value(samples, "seg_delivery_latency_seconds_sum") >= 3600  # the hour held
    assert value(samples, "seg_delivery_since_due_seconds_count") == 2
    assert value(samples, "seg_delivery_since_due_seconds_sum") < 600  # not the hour held


@pytest.mark.django_db
@pytest.mark.redis
def test_gauges_are_read_from_the_database_and_redis_at_scrape(
    settings: Any, fresh_throttle: None
) -> None:
    settings.DEBUG = True  # no token or allowlist needed
    for n in range(4):
        ingest([{"type": "identify", "userId": f"g{n}", "traits": {"email": f"g{n}@example.com"}}])
    ingest([{"type": "page", "anonymousId": "anon", "name": "Home"}], source=Source.BROWSER)
    settings.SEG_BREAKER_THRESHOLD = 1
    throttle.report(core.Verdict.RETRY, 429, timedelta(seconds=120))
    samples = parse(Client().get("/metrics").content.decode())
    assert value(samples, "seg_due_events") == 4
    assert value(samples, "seg_due_oldest_seconds") >= 0
    assert value(samples, "seg_held_events") == 1
    website = conf.website_for()  # the circuit and the pause are each website's
    assert value(samples, "seg_circuit_open", website=website) == 1
    assert 100 < value(samples, "seg_throttle_pause_seconds", website=website) <= 120
    assert value(samples, "seg_last_attempt_timestamp_seconds") == 0  # no attempt ever began


@pytest.mark.django_db
def test_the_python_api_counts_as_its_own_key_kind(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.DEBUG = True
    name = "seg_events_received_total"

    def scraped() -> float:
        samples = parse(Client().get("/metrics").content.decode())
        return value(samples, name, call_type="track", key_kind="api")

    before = scraped()
    with django_capture_on_commit_callbacks(execute=True):
        api.track("api-user", "Order Completed", {"order_id": "R1"}, context={})
    assert scraped() == before + 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setup", "headers", "remote", "status"),
    [
        ({}, {}, "127.0.0.1", 403),
        ({"SEG_METRICS_TOKEN": TOKEN}, {}, "127.0.0.1", 401),
        ({"SEG_METRICS_TOKEN": TOKEN}, {"Authorization": "Bearer wrong"}, "127.0.0.1", 401),
        ({"SEG_METRICS_TOKEN": TOKEN}, {"Authorization": f"Bearer {TOKEN}"}, "10.1.2.3", 200),
        ({"SEG_METRICS_ALLOWED_IPS": ["10.0.0.0/8"]}, {}, "10.1.2.3", 200),
        ({"SEG_METRICS_ALLOWED_IPS": "10.0.0.0/8, ::1"}, {}, "192.0.2.1", 403),
        ({"SEG_METRICS_ALLOWED_IPS": ["2001:db8::/32"]}, {}, "2001:db8::7", 200),
        ({"SEG_METRICS_ALLOWED_IPS": "shop.internal, 10.0.0.0/8"}, {}, "10.1.2.3", 200),
        (
            {"SEG_METRICS_TOKEN": TOKEN, "SEG_METRICS_ALLOWED_IPS": ["10.0.0.0/8"]},
            {"Authorization": f"Bearer {TOKEN}"},
            "192.0.2.1",
            403,
        ),
    ],
    ids=[
        "nothing set",
        "no token",
        "wrong token",
        "token",
        "allowed address",
        "other address",
        "allowed ipv6 network",
        "a wrong entry left out",
        "token from another address",
    ],
)
def test_who_may_scrape(
    settings: Any, setup: dict[str, Any], headers: dict[str, str], remote: str, status: int
) -> None:
    settings.DEBUG = False
    for name, setting in setup.items():
        setattr(settings, name, setting)
    answer = Client().get("/metrics", headers=headers, REMOTE_ADDR=remote)
    assert answer.status_code == status, answer.content
    if status == 200:
        assert b"seg_events_received_total" in answer.content
    if status == 401:
        assert answer["WWW-Authenticate"].startswith("Bearer")


DEPLOY = ROOT / "deploy"
METRIC = re.compile(r"\bseg_[a-z0-9_]+\b")


def named_in_alerts() -> set[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    names: set[str] = set()
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {"SegBacklogGrowing", "SegOldestDueEvent", "SegCircuitOpen", "SegNoWorker"} <= {
        rule["alert"] for rule in alerts
    }
    for rule in alerts:
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        names |= set(METRIC.findall(rule["expr"]))
    return names


def named_in_dashboard() -> set[str]:
    board = json.loads((DEPLOY / "grafana" / "dashboard.json").read_text())
    exprs = [target["expr"] for panel in board["panels"] for target in panel.get("targets", ())]
    assert len(exprs) >= 8
    return {name for expr in exprs for name in METRIC.findall(expr)}


def named_in_readme() -> set[str]:
    """The metrics README's "Operating it" lists, a table row each."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Operating it\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `seg_")]
    assert len(rows) >= 10
    return {METRIC.findall(row)[0] for row in rows}


@pytest.mark.django_db(transaction=True)
def test_the_ops_files_name_only_what_the_app_exports(
    tmp_path: Path, start_web: Callable[..., WebServer]
) -> None:
    web = start_web(PROMETHEUS_MULTIPROC_DIR=str(tmp_path), SEG_METRICS_TOKEN=TOKEN)
    answer = requests.get(
        f"{web.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    families = list(text_string_to_metric_families(answer.text))
    exported = {sample.name for family in families for sample in family.samples}
    for names in (named_in_alerts(), named_in_dashboard()):
        assert names
        assert names - exported == set()
    # The README's table names each family (a histogram by its own name) and nothing else.
    families_named = {family.name for family in families} | exported
    assert named_in_readme() - families_named == set()
    assert "seg_delivery_since_due_seconds" in named_in_readme()
    assert os.listdir(tmp_path)  # the web workers counted in the directory given
