"""The app's settings, read through one function when they are used."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings

from .core import RetryPolicy
from .exceptions import SegConfigurationError

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


def get_setting(name: str) -> Any:
    """Return setting ``name`` from Django settings, else its default.

    Durations may be given as a ``timedelta`` or a number of seconds and are
    always returned as a ``timedelta``. Raises SegConfigurationError for an
    unknown name or a duration that is neither.
    """
    if name not in DEFAULTS:
        raise SegConfigurationError(f"Unknown Seg setting {name}.")
    value = getattr(settings, name, DEFAULTS[name])
    unset = value is None and DEFAULTS[name] is None  # a duration that may be left unset
    if name in DURATIONS and not isinstance(value, timedelta) and not unset:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SegConfigurationError(
                f"{name} must be a timedelta or a number of seconds, not {value!r}."
            )
        value = timedelta(seconds=value)
    return value


def post_deadline() -> float:
    """Seconds one POST to Seg may take in all: SEG_POST_DEADLINE, else
    SEG_CONNECT_TIMEOUT + SEG_READ_TIMEOUT."""
    value = get_setting("SEG_POST_DEADLINE")
    if value is None:
        return float(get_setting("SEG_CONNECT_TIMEOUT") + get_setting("SEG_READ_TIMEOUT"))
    return float(value.total_seconds())


def website_id(website: str = "") -> str:
    """The Seg Website Id an event goes to: ``website`` (the one recorded on it), else
    SEG_WEBSITE_ID; raises SegConfigurationError when neither is set."""
    value = website or get_setting("SEG_WEBSITE_ID")
    if not value:
        raise SegConfigurationError(
            "Set SEG_WEBSITE_ID to your Seg Website Id (a GUID), or name a website for "
            "each write key and site in SEG_WEBSITES."
        )
    return str(value)


def websites() -> dict[str | int, str]:
    """SEG_WEBSITES: write key, Django site id or site domain -> Seg Website Id.

    Raises SegConfigurationError when it is not a mapping of strings (or site ids)
    to non-empty strings.
    """
    value = get_setting("SEG_WEBSITES") or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str | int) and isinstance(v, str) and v for k, v in value.items()
    ):
        raise SegConfigurationError(
            "SEG_WEBSITES must map each write key, Django site id or site domain to a Seg "
            'Website Id, e.g. {"shop-a-key": "<website id>", 2: "<website id>"}.'
        )
    return {k.strip() if isinstance(k, str) else k: v.strip() for k, v in value.items()}


def website_for(name: str | int | None = None, *, key: str | None = None, site: Any = None) -> str:
    """The Website Id of a call, by the first of these that SEG_WEBSITES names: ``name``
    (a Website Id itself, or any key of SEG_WEBSITES), the write key ``key``, then
    ``site`` (a ``django.contrib.sites`` Site, by id then domain); else SEG_WEBSITE_ID;
    else '' (no website known: delivery then asks for SEG_WEBSITE_ID).

    Raises SegConfigurationError for a ``name`` that is neither a Website Id of
    SEG_WEBSITES or SEG_WEBSITE_ID nor a key of SEG_WEBSITES.
    """
    mapping = websites()
    default = str(get_setting("SEG_WEBSITE_ID") or "")
    if name not in (None, ""):
        if name in mapping:
            return mapping[name]
        if name == default or name in mapping.values():
            return str(name)
        raise SegConfigurationError(
            f"{name!r} names no website: give a Website Id of SEG_WEBSITES or "
            "SEG_WEBSITE_ID, or a key of SEG_WEBSITES."
        )
    if key and key in mapping:
        return mapping[key]
    if site is not None and mapping:
        for ref in (getattr(site, "pk", None), getattr(site, "domain", None)):
            if ref is not None and ref in mapping:
                return mapping[ref]
    return default


def all_websites() -> tuple[str, ...]:
    """Every Website Id events may go to: SEG_WEBSITE_ID's first, then SEG_WEBSITES' in
    their order, each once."""
    found = [str(get_setting("SEG_WEBSITE_ID") or ""), *websites().values()]
    return tuple(dict.fromkeys(w for w in found if w))


def tracker_url() -> str:
    """The tracker's base URL, without a trailing slash."""
    return str(get_setting("SEG_TRACKER_URL")).rstrip("/")


def write_keys() -> tuple[str, ...]:
    """The secret (server) write keys; a comma-separated string is split."""
    return text_list("SEG_WRITE_KEYS")


def browser_write_keys() -> tuple[str, ...]:
    """The public write keys pages use (SEG_BROWSER_WRITE_KEYS)."""
    return text_list("SEG_BROWSER_WRITE_KEYS")


def allowed_origins() -> tuple[str, ...]:
    """SEG_ALLOWED_ORIGINS without trailing slashes; empty for every origin."""
    return tuple(origin.rstrip("/") for origin in text_list("SEG_ALLOWED_ORIGINS"))


def text_list(name: str) -> tuple[str, ...]:
    """A setting that lists strings, given as a sequence or one comma-separated string."""
    value = get_setting(name) or ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(item.strip() for item in value if isinstance(item, str) and item.strip())


def consent_categories() -> tuple[str, ...]:
    """SEG_CONSENT_CATEGORIES: the shop's consent category ids Seg belongs to; empty for
    no enforcement."""
    return text_list("SEG_CONSENT_CATEGORIES")


def redis_url() -> str:
    """The Redis for shared throttle state: SEG_REDIS_URL, else Celery's broker."""
    value = get_setting("SEG_REDIS_URL")
    if value:
        return str(value)
    from celery import current_app

    return str(current_app.conf.broker_url)


def retry_policy() -> RetryPolicy:
    """The retry schedule of SEG_RETRY_BASE, SEG_RETRY_CAP, SEG_RETRY_WINDOW,
    SEG_MAX_ATTEMPTS and SEG_RETRY_AFTER_CAP."""
    return RetryPolicy(
        base=get_setting("SEG_RETRY_BASE"),
        cap=get_setting("SEG_RETRY_CAP"),
        window=get_setting("SEG_RETRY_WINDOW"),
        max_attempts=get_setting("SEG_MAX_ATTEMPTS"),
        retry_after_cap=get_setting("SEG_RETRY_AFTER_CAP"),
    )


def identifies(user: object) -> bool:
    """Whether the shop's pages and receivers may name Django ``user`` to Seg as a
    customer: any logged-in user, but a staff member or superuser only with
    SEG_IDENTIFY_STAFF (an operator is not a customer unless the shop says so)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    operator = getattr(user, "is_staff", False) or getattr(user, "is_superuser", False)
    return not operator or bool(get_setting("SEG_IDENTIFY_STAFF"))
