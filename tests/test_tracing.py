"""SEG_TRACING: one OpenTelemetry trace from the shop's request to gunicorn, through the
Celery task in a real worker, to the post to the Seg sandbox, exported over OTLP/HTTP
to a receiver on 127.0.0.1."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from integrations.dev.sandbox import Sandbox

from .conftest import WRITE_KEY, WebServer, Worker, wait_until


class Receiver:
    """An OTLP/HTTP trace receiver: every span exported to it, with its service's name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Span]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                with receiver.lock:
                    for resource in request.resource_spans:
                        service = next(
                            a.value.string_value
                            for a in resource.resource.attributes
                            if a.key == "service.name"
                        )
                        for scope in resource.scope_spans:
                            receiver.spans += [(service, span) for span in scope.spans]
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self) -> list[tuple[str, Span]]:
        with self.lock:
            return list(self.spans)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


@pytest.mark.django_db(transaction=True)
def test_one_trace_from_the_shops_request_to_the_post_to_seg(
    receiver: Receiver,
    sandbox: Sandbox,
    start_web: Callable[..., WebServer],
    start_worker: Callable[..., Worker],
) -> None:
    otel = {
        "SEG_TRACING": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    start_worker(concurrency=1, OTEL_SERVICE_NAME="seg-worker", **otel)
    web = start_web(OTEL_SERVICE_NAME="shop-web", **otel)
    user = f"u-{uuid.uuid4()}"
    body = {"userId": user, "traits": {"email": f"{user}@example.com"}, "writeKey": WRITE_KEY}
    assert requests.post(f"{web.url}/seg/v1/identify", json=body, timeout=30).status_code == 200
    wait_until(lambda: len(sandbox.delivered()) == 1)

    def chain(span: Span, by_id: dict[bytes, tuple[str, Span]]) -> list[tuple[str, Span]]:
        """``span``'s ancestors, nearest first, as far as they were exported."""
        found = []
        while span.parent_span_id in by_id:
            found.append(by_id[span.parent_span_id])
            span = found[-1][1]
        return found

    def whole_trace() -> tuple[Span, list[tuple[str, Span]]] | None:
        """The post to Seg and its ancestors, once every span up to the root is exported."""
        spans = receiver.snapshot()
        by_id = {span.span_id: (service, span) for service, span in spans}
        for service, span in spans:
            if service == "seg-worker" and span.kind == Span.SPAN_KIND_CLIENT:
                ancestors = chain(span, by_id)
                if ancestors and not ancestors[-1][1].parent_span_id:
                    return span, ancestors
        return None

    post, ancestors = wait_until(whole_trace, timeout=30)
    kinds = [(service, span.kind) for service, span in ancestors]
    # The post, in the task a worker ran, published by the request the shop made.
    assert ("seg-worker", Span.SPAN_KIND_CONSUMER) in kinds, kinds
    assert ("shop-web", Span.SPAN_KIND_PRODUCER) in kinds, kinds
    root_service, root = ancestors[-1]
    assert (root_service, root.kind) == ("shop-web", Span.SPAN_KIND_SERVER)
    assert not root.parent_span_id
    assert "POST" in root.name
    attributes = {a.key: a.value.string_value for a in post.attributes}
    assert any(value.startswith(sandbox.url) for value in attributes.values()), attributes
