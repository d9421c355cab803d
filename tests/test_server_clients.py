"""Segment's server-side clients, configured as the README says, send a storefront visit.

analytics-python (``host`` the shop's mount) and analytics-node (``host`` the shop's
origin and ``path`` the mount's batch endpoint, run with node from the repository's
node_modules) send the same visit: anonymous views are held, released in order by
the identify, and Seg gets the customer, the views and the order with its lines.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from segment.analytics import Client

from integrations.dev import Sandbox
from integrations.models import Event, Status

from .clients.visit import HELD, expect_delivered, visit
from .conftest import ROOT, WRITE_KEY, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

NODE = shutil.which("node") or "node"
VISIT_JS = Path(__file__).parent / "clients" / "visit.js"
ARTIFACTS = ROOT / "test-artifacts"


def send_python(client: Client, calls: list[dict[str, Any]]) -> None:
    for call in calls:
        ids = {"anonymous_id": call.get("anonymousId"), "user_id": call.get("userId")}
        if call["type"] == "page":
            client.page(name=call["name"], properties=call["properties"], **ids)
        elif call["type"] == "track":
            client.track(event=call["event"], properties=call["properties"], **ids)
        else:
            client.identify(traits=call["traits"], **ids)


def send_node(calls: list[dict[str, Any]], tmp_path: Path, host: str, path: str = "") -> None:
    if not (ROOT / "node_modules" / "@segment" / "analytics-node").is_dir():
        pytest.fail("node_modules is missing: run npm ci (scripts/setup.sh does)")
    file = tmp_path / f"calls-{len(list(tmp_path.iterdir()))}.json"
    file.write_text(json.dumps(calls))
    command = [NODE, str(VISIT_JS), WRITE_KEY, str(file), host, *([path] if path else [])]
    subprocess.run(command, cwd=ROOT, check=True, timeout=60, capture_output=True, text=True)


def held_then_delivered(sandbox: Sandbox, send: Any, name: str) -> None:
    """Send the visit's anonymous part, see it held, then the rest, and see it all at Seg."""
    email, user_id = f"{name}@example.com", f"{name}-42"
    anonymous, logged_in = visit(f"anon-{name}", user_id, email)
    send(anonymous)
    held = wait_until(lambda: Event.objects.filter(status=Status.HELD).count() == len(HELD) or None)
    assert held and sandbox.snapshot() == []
    send(logged_in)
    wait_until(lambda: Event.objects.filter(status=Status.DELIVERED).count() == len(HELD) + 2)
    expect_delivered(sandbox.delivered(), email, user_id)
    ARTIFACTS.mkdir(exist_ok=True)
    received = {
        "app": [e.message for e in Event.objects.order_by("id")],
        "sandbox": [{"action": r.action, "body": r.body} for r in sandbox.delivered()],
    }
    (ARTIFACTS / f"{name}-visit.json").write_text(json.dumps(received, indent=1))


def test_analytics_python_sends_a_visit_that_seg_receives(
    live_server: Any, sandbox: Sandbox, start_worker: Any
) -> None:
    start_worker(concurrency=1)
    # As the README configures it: host is the shop's mount.
    client = Client(WRITE_KEY, host=f"{live_server.url}/seg", sync_mode=True)
    held_then_delivered(sandbox, lambda calls: send_python(client, calls), "python")
    library = Event.objects.first().message["context"]["library"]
    assert library["name"] == "analytics-python"


def test_analytics_node_sends_a_visit_that_seg_receives(
    live_server: Any, sandbox: Sandbox, start_worker: Any, tmp_path: Path
) -> None:
    start_worker(concurrency=1)
    # As the README configures it: host is the shop's origin, path the mount's batch.
    held_then_delivered(
        sandbox, lambda calls: send_node(calls, tmp_path, live_server.url, "/seg/v1/batch"), "node"
    )
    library = Event.objects.first().message["context"]["library"]
    assert library["name"] == "@segment/analytics-node"


def test_analytics_node_given_only_a_host_drops_the_mount(live_server: Any, tmp_path: Path) -> None:
    """new URL('/v1/batch', 'http://shop/seg') is http://shop/v1/batch: nothing reaches the app."""
    anonymous, _ = visit("anon-lost", "lost-1", "lost@example.com")
    with pytest.raises(subprocess.CalledProcessError) as failed:
        send_node(anonymous[:1], tmp_path, f"{live_server.url}/seg")
    assert "404" in failed.value.stderr or "400" in failed.value.stderr, failed.value.stderr
    assert not Event.objects.exists()
