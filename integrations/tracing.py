"""OpenTelemetry traces, off unless SEG_TRACING is on: one trace from the shop's request
through the ingest, the Celery task and the post to Seg.

Built on OpenTelemetry's own instrumentation (``pip install
"django-seg-integrations[otel]"``): Django's makes the request's span, Celery's
carries the context in the task message's headers (a producer span where the
wake-up is published, a consumer span where a worker runs it), and urllib3's
makes the post to Seg a client span of the task (the post goes to requests'
adapter, under requests' own instrumentation, which the shop's own calls use).

``setup`` runs as each process starts (``apps.py``): a Celery worker's pool
processes inherit what their parent set up (the SDK's span processor starts its
thread again after a fork). A process that already has a tracer provider (the
shop's own, or ``opentelemetry-instrument``'s) keeps it; otherwise one is made
that exports over OTLP/HTTP, configured by OpenTelemetry's own variables
(OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS,
OTEL_BSP_SCHEDULE_DELAY, ...). Raises ImproperlyConfigured when SEG_TRACING is
on and the packages are not installed.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from . import conf

_done = threading.Lock()
_state: dict[str, Any] = {"pid": None}

INSTALL = 'SEG_TRACING is on: pip install "django-seg-integrations[otel]".'


def enabled() -> bool:
    """Whether SEG_TRACING is on."""
    return bool(conf.get_setting("SEG_TRACING"))


def setup() -> None:
    """Instrument this process, once."""
    if not enabled():
        return
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise ImproperlyConfigured(INSTALL) from error

    with _done:
        if _state["pid"] == os.getpid():
            return
        _state["pid"] = os.getpid()
        if not isinstance(trace.get_tracer_provider(), TracerProvider):
            named = os.environ.get("OTEL_SERVICE_NAME")
            resource = Resource.create({} if named else {"service.name": "django-seg-integrations"})
            provider = TracerProvider(resource=resource)
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(provider)
        instrumentors = (
            DjangoInstrumentor(),
            RequestsInstrumentor(),
            URLLib3Instrumentor(),
            CeleryInstrumentor(),  # type: ignore[no-untyped-call]
        )
        for instrumentor in instrumentors:
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument()
