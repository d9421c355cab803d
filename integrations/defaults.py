"""Every setting the app reads, with its default when the project sets none (``conf``
reads them; the README's configuration table describes each)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

DEFAULTS: dict[str, Any] = {
    "SEG_WEBSITE_ID": None,
    # Several stores: each write key (server or browser), Django site id or site
    # domain, to the Seg Website Id its events go to. SEG_WEBSITE_ID is the
    # website of whatever names none.
    "SEG_WEBSITES": {},
    "SEG_TRACKER_URL": "https://tracker.segapp.com",
    "SEG_WRITE_KEYS": (),
    "SEG_CONNECT_TIMEOUT": 5.0,
    "SEG_READ_TIMEOUT": 15.0,
    # The longest one POST to Seg may take in all (connect, send, answer),
    # whatever pace Seg keeps; None: SEG_CONNECT_TIMEOUT + SEG_READ_TIMEOUT.
    "SEG_POST_DEADLINE": None,
    # A claimed event is retried by the sweeper once its lease runs out, so the
    # lease must outlast one whole post (SEG_POST_DEADLINE) with margin.
    "SEG_LEASE": timedelta(seconds=60),
    "SEG_RETRY_WINDOW": timedelta(hours=4),
    "SEG_MAX_ATTEMPTS": 25,
    "SEG_RETRY_BASE": timedelta(seconds=2),
    "SEG_RETRY_CAP": timedelta(minutes=30),
    # The longest wait a Retry-After from Seg may impose, on the event and on
    # the pause shared by every worker, so one absurd header cannot stall
    # delivery for days.
    "SEG_RETRY_AFTER_CAP": timedelta(hours=1),
    # Retries due sooner than this ride a Celery countdown; later ones wait on
    # the row for the sweeper, so Redis never holds long ETAs.
    "SEG_MAX_COUNTDOWN": timedelta(seconds=60),
    "SEG_ANONYMOUS_HOLD": timedelta(days=7),
    # An identify with an email releases at most this many held events in the
    # shop's request; a task releases the rest. It looks at the userId's
    # anonymousIds tied most recently, at most this many: each call's cost is
    # bounded whatever the history of its ids.
    "SEG_RELEASE_BATCH": 1000,
    "SEG_RELEASE_ANONYMOUS_IDS": 50,
    # The key of the HMAC a page carries to vouch for its userId
    # (integrations.Seg.userHash, which {% seg_analytics %} adds); None: derived
    # from SECRET_KEY.
    "SEG_IDENTITY_SECRET": None,
    # The key of the HMAC an erasure request keeps of a customer's ids, and that
    # suppression matches at ingest (integrations.ingest.refusals); None: derived
    # from SECRET_KEY. Set it before rotating SECRET_KEY.
    "SEG_ERASURE_KEY": None,
    # Rows an erasure request deletes per transaction.
    "SEG_ERASURE_BATCH": 1000,
    # How long a page's signature vouches for its user (a leaked one stops then).
    "SEG_SIGNATURE_MAX_AGE": timedelta(days=1),
    # Whether a staff member or superuser logged in on the shop is a customer: named
    # to Seg by the tag's identify and by the Oscar receivers. Off: their session
    # never names the browser's visitor, so logging in to the admin on the shop's
    # host does not give the shopper's anonymous events the operator's email.
    "SEG_IDENTIFY_STAFF": False,
    # Segment Consent Management: the consent category ids (as the shop's consent
    # manager names them) that Seg belongs to. An event whose context.consent
    # lacks any of them is withheld. Empty: consent is not enforced.
    "SEG_CONSENT_CATEGORIES": (),
    # An identify whose update-customer says what Seg accepted last for the email,
    # within this, is stored as unchanged and not sent (0: always sent).
    "SEG_IDENTIFY_REFRESH": timedelta(hours=24),
    # A due event whose wake-up was queued longer ago than this is queued again.
    "SEG_REQUEUE_AFTER": timedelta(minutes=5),
    "SEG_SWEEP_BATCH": 5000,
    # After a publish to the broker fails, this process publishes nothing for
    # this long: the shop's requests go on at once and the rows wait for the
    # sweeper, instead of each request trying a broker that is down.
    "SEG_PUBLISH_PAUSE": timedelta(seconds=5),
    # Events one delivery task takes: claimed in one transaction, posted one by
    # one, recorded in one transaction. 1 gives every event a task of its own.
    "SEG_DELIVERY_BATCH": 50,
    # Requests per second to Seg across all workers (0 for no cap).
    "SEG_RATE_LIMIT": 100.0,
    # Events per second manage.py seg_backfill stores for Seg at most (above 0):
    # below SEG_RATE_LIMIT, so the shop's history leaves the rest to live events.
    "SEG_BACKFILL_RATE": 20.0,
    # Events one delivery task of a backfill's takes: a worker busy with the
    # shop's history is free again after this many posts, for a live event.
    "SEG_BACKFILL_BATCH": 1,
    # The part of SEG_RATE_LIMIT pages' events may use (above 0; 1 or more:
    # all of it): a flood from pages leaves the rest to the server's events,
    # which may use the whole cap.
    "SEG_BROWSER_RATE_SHARE": 0.5,
    # A delivery task of pages' events posts for about this long, then gives
    # the rest back to their queue: the process is soon free for the server's.
    "SEG_BROWSER_SLICE": timedelta(milliseconds=250),
    # With no cap, how long a worker that Seg keeps answering 2xx goes on
    # without asking the shared throttle again: a pause or an open circuit
    # another worker meets reaches it within this (throttle.gate).
    "SEG_THROTTLE_REFRESH": timedelta(milliseconds=100),
    # Consecutive transient failures that open the circuit, and how long it
    # stays open before one probe is let through.
    "SEG_BREAKER_THRESHOLD": 20,
    "SEG_BREAKER_COOLDOWN": timedelta(seconds=30),
    # The Redis that holds the shared throttle; default: the Celery broker.
    "SEG_REDIS_URL": None,
    "SEG_RETENTION_DAYS": 30,
    # A page's events that never got an email (held, or expired) are deleted
    # this long after they were received, even while still held: a public key
    # can send them without end, and only an identify makes them worth keeping.
    "SEG_BROWSER_RETENTION": timedelta(days=1),
    # Per customer (email), an event is not posted while an earlier one is
    # pending or sending (integrations/lifecycle/ordering.py). Off: events go out as
    # they are claimed, whatever the customer.
    "SEG_ORDER_PER_CUSTOMER": True,
    "SEG_RETENTION_BATCH": 5000,
    # --- Sending from the browser (analytics.js) ---
    # Keys that pages use: public, so they may not send alias, and each client
    # address is rate-limited. SEG_WRITE_KEYS stay secret, for servers.
    "SEG_BROWSER_WRITE_KEYS": (),
    # Origins (scheme://host[:port]) that get CORS answers, with credentials;
    # empty: every origin, with "*" and no credentials.
    "SEG_ALLOWED_ORIGINS": (),
    # The shop's origin as browsers reach it (https://shop.example), for a shop
    # behind a proxy; None: taken from each request.
    "SEG_PUBLIC_ORIGIN": None,
    # analytics.js itself: a file this server sends, or a URL it redirects to.
    "SEG_ANALYTICS_JS_PATH": None,
    "SEG_ANALYTICS_JS_URL": None,
    # Messages a second, and at once, that one client address may send with a
    # browser key (0 for no limit).
    "SEG_BROWSER_RATE_LIMIT": 20.0,
    "SEG_BROWSER_BURST": 200,
    # The header a trusted proxy puts the client's address in (its last entry
    # is used); None: the connection's own address (REMOTE_ADDR).
    "SEG_CLIENT_IP_HEADER": None,
    # --- Operating it (integrations.probes) ---
    # /metrics answers a scrape that carries "Authorization: Bearer <token>", from an
    # address in the allowlist (addresses or networks, as SEG_CLIENT_IP_HEADER reads
    # them); both when both are set. Neither set: refused unless DEBUG.
    "SEG_METRICS_TOKEN": None,
    "SEG_METRICS_ALLOWED_IPS": (),
    # The readiness checks whose failure makes /readyz answer 503 (of database,
    # broker, worker); the others are reported only.
    "SEG_READY_REQUIRES": ("database",),
    # "host:port" where a Celery worker serves its host's counters (no token: bind it
    # where only Prometheus reaches); None: none, the web's /metrics has them.
    "SEG_WORKER_METRICS_BIND": None,
    # OpenTelemetry traces (integrations.tracing; the otel extra).
    "SEG_TRACING": False,
}

DURATIONS = {
    "SEG_POST_DEADLINE",
    "SEG_LEASE",
    "SEG_RETRY_WINDOW",
    "SEG_RETRY_BASE",
    "SEG_RETRY_CAP",
    "SEG_RETRY_AFTER_CAP",
    "SEG_MAX_COUNTDOWN",
    "SEG_ANONYMOUS_HOLD",
    "SEG_REQUEUE_AFTER",
    "SEG_PUBLISH_PAUSE",
    "SEG_BREAKER_COOLDOWN",
    "SEG_THROTTLE_REFRESH",
    "SEG_BROWSER_SLICE",
    "SEG_BROWSER_RETENTION",
    "SEG_IDENTIFY_REFRESH",
    "SEG_SIGNATURE_MAX_AGE",
}
