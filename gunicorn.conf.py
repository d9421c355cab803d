"""The recommended way to serve the example project: gunicorn, threaded, with a deadline on
each request (``segproject.serving``), so that slow clients cannot hold every worker.

``gunicorn -c gunicorn.conf.py``; environment: PORT (8000), WEB_BIND (all addresses
on PORT), WEB_CONCURRENCY (worker processes, 2), WEB_THREADS (threads a worker, 32),
WEB_READ_DEADLINE (seconds a request may take from a thread taking it up, 10), and
PROMETHEUS_MULTIPROC_DIR (an empty directory the workers count in, for /metrics).
"""

import os

from integrations.instruments import process_gone
from segproject.serving import DeadlineWorker

wsgi_app = "segproject.wsgi"
bind = os.environ.get("WEB_BIND") or f"0.0.0.0:{os.environ.get('PORT') or 8000}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
worker_class = "segproject.serving.DeadlineWorker"
# A thread a connection that is sending; an idle one waits in the worker's poller.
threads = int(os.environ.get("WEB_THREADS") or 32)
DeadlineWorker.read_deadline = float(os.environ.get("WEB_READ_DEADLINE") or 10)
# An idle kept-alive connection is closed after this many seconds.
keepalive = 5
# Headers and request line, gunicorn's limits, kept; a body is bounded by the app (500 KB).
limit_request_line = 4094
limit_request_fields = 100


def child_exit(server: object, worker: object) -> None:
    """A worker exited: prometheus-client tidies its files; its counts stay counted."""
    process_gone(worker.pid)  # type: ignore[attr-defined]
