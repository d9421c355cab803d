"""Settings for the example project, taken from the environment with safe defaults.

DATABASE_URL, REDIS_URL, SEG_WEBSITE_ID (or SEG_WEBSITES), SEG_TRACKER_URL, SEG_WRITE_KEYS and
SEG_BROWSER_WRITE_KEYS configure the product; DEBUG, SECRET_KEY and ALLOWED_HOSTS the site. Every
other SEG_* setting may be given too: durations in seconds (SEG_LEASE=90),
counts as whole numbers.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_websites(name: str) -> dict[str | int, str]:
    """``key=website,2=website,shop.example=website``: a write key, a site id (digits) or
    a site domain, each to its Seg Website Id."""
    pairs = (item.partition("=") for item in env_list(name))
    return {
        int(k.strip()) if k.strip().isdigit() else k.strip(): w.strip()
        for k, _, w in pairs
        if k.strip() and w.strip()
    }


DEBUG = env_bool("DEBUG")
# Without SECRET_KEY each process makes its own: nothing forgeable, but
# sessions do not survive a restart. Production sets it.
SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Its place does not matter: the app overrides no command (its development
    # server is manage.py seg_runserver) and none of the admin's templates
    # (templates/admin/base_site.html shows the banner).
    "integrations",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    # /healthz and /readyz answer a kubelet's probe, whose Host is the pod's address.
    "integrations.probes.AnyHostProbes",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "segproject.urls"
WSGI_APPLICATION = "segproject.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Statements prepared once per session (the delivery worker's outcome, each
    # event): "off" for a pooler that cannot keep them (PgBouncer in transaction
    # mode before 1.21); Django's own default is off.
    threshold = os.environ.get("DATABASE_PREPARE_THRESHOLD", "5").strip().lower()
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        None if threshold in ("off", "none", "") else int(threshold)
    )
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # The web process and the workers write concurrently: WAL lets readers
        # go on, IMMEDIATE takes the write lock up front instead of deadlocking.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory, so a worker process sees the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The site's own files (its icon); the app ships its own.
STATICFILES_DIRS = [BASE_DIR / "static"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The ingestion endpoint enforces Segment's own limits (500 KB a request).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Seg ---------------------------------------------------------------
SEG_WEBSITE_ID = os.environ.get("SEG_WEBSITE_ID", "")
# Several stores: SEG_WEBSITES=key-a=<Website Id>,key-b=<Website Id>,2=<Website Id>.
SEG_WEBSITES = env_websites("SEG_WEBSITES")
SEG_TRACKER_URL = os.environ.get("SEG_TRACKER_URL", "https://tracker.segapp.com")
SEG_WRITE_KEYS = env_list("SEG_WRITE_KEYS")
# The rest keep the app's defaults (integrations/conf.py) when unset or empty:
# durations in seconds (the app also takes a timedelta), counts whole numbers.
SEG_CONNECT_TIMEOUT = float(os.environ.get("SEG_CONNECT_TIMEOUT") or 5)
SEG_READ_TIMEOUT = float(os.environ.get("SEG_READ_TIMEOUT") or 15)
# The longest one post may take in all; unset: connect + read.
SEG_POST_DEADLINE = (
    float(os.environ["SEG_POST_DEADLINE"]) if os.environ.get("SEG_POST_DEADLINE") else None
)
# Longer than one post (SEG_POST_DEADLINE), or a second worker may take an
# event still in flight.
SEG_LEASE = float(os.environ.get("SEG_LEASE") or 60)
SEG_RETRY_BASE = float(os.environ.get("SEG_RETRY_BASE") or 2)
SEG_RETRY_CAP = float(os.environ.get("SEG_RETRY_CAP") or 30 * 60)
SEG_RETRY_WINDOW = float(os.environ.get("SEG_RETRY_WINDOW") or 4 * 60 * 60)
SEG_MAX_ATTEMPTS = int(os.environ.get("SEG_MAX_ATTEMPTS") or 25)
SEG_RETRY_AFTER_CAP = float(os.environ.get("SEG_RETRY_AFTER_CAP") or 60 * 60)
SEG_MAX_COUNTDOWN = float(os.environ.get("SEG_MAX_COUNTDOWN") or 60)
SEG_ANONYMOUS_HOLD = float(os.environ.get("SEG_ANONYMOUS_HOLD") or 7 * 24 * 60 * 60)
SEG_RELEASE_BATCH = int(os.environ.get("SEG_RELEASE_BATCH") or 1000)
SEG_RELEASE_ANONYMOUS_IDS = int(os.environ.get("SEG_RELEASE_ANONYMOUS_IDS") or 50)
SEG_REQUEUE_AFTER = float(os.environ.get("SEG_REQUEUE_AFTER") or 5 * 60)
SEG_SWEEP_BATCH = int(os.environ.get("SEG_SWEEP_BATCH") or 5000)
# After a failed publish, how long a process leaves its events to the sweeper
# rather than have each request try a broker that is down.
SEG_PUBLISH_PAUSE = float(os.environ.get("SEG_PUBLISH_PAUSE") or 5)
SEG_DELIVERY_BATCH = int(os.environ.get("SEG_DELIVERY_BATCH") or 50)
SEG_RATE_LIMIT = float(os.environ.get("SEG_RATE_LIMIT") or 100)
SEG_BACKFILL_RATE = float(os.environ.get("SEG_BACKFILL_RATE") or 20)
SEG_BACKFILL_BATCH = int(os.environ.get("SEG_BACKFILL_BATCH") or 1)
SEG_THROTTLE_REFRESH = float(os.environ.get("SEG_THROTTLE_REFRESH") or 0.1)
SEG_BREAKER_THRESHOLD = int(os.environ.get("SEG_BREAKER_THRESHOLD") or 20)
SEG_BREAKER_COOLDOWN = float(os.environ.get("SEG_BREAKER_COOLDOWN") or 30)
# The Redis for the shared throttle; None uses the Celery broker.
SEG_REDIS_URL = os.environ.get("SEG_REDIS_URL") or None
SEG_RETENTION_DAYS = int(os.environ.get("SEG_RETENTION_DAYS") or 30)
SEG_RETENTION_BATCH = int(os.environ.get("SEG_RETENTION_BATCH") or 5000)
SEG_SWEEP_INTERVAL = float(os.environ.get("SEG_SWEEP_INTERVAL", "10"))
# Sending from the browser (analytics.js): public keys for pages, the origins
# that may read answers (empty: all, without credentials), the shop's origin
# behind a proxy, analytics.js itself (npm ci installs it), the limit per
# client address, and the header a trusted proxy puts that address in.
SEG_BROWSER_WRITE_KEYS = env_list("SEG_BROWSER_WRITE_KEYS")
SEG_ALLOWED_ORIGINS = env_list("SEG_ALLOWED_ORIGINS")
SEG_PUBLIC_ORIGIN = os.environ.get("SEG_PUBLIC_ORIGIN") or None
SEG_ANALYTICS_JS_PATH = os.environ.get("SEG_ANALYTICS_JS_PATH") or str(
    BASE_DIR / "node_modules/@segment/analytics-next/dist/umd/standalone.js"
)
SEG_ANALYTICS_JS_URL = os.environ.get("SEG_ANALYTICS_JS_URL") or None
SEG_BROWSER_RATE_LIMIT = float(os.environ.get("SEG_BROWSER_RATE_LIMIT") or 20)
SEG_BROWSER_BURST = int(os.environ.get("SEG_BROWSER_BURST") or 200)
# Pages' share of SEG_RATE_LIMIT, how long a task of pages' events posts before
# it gives its process back, and how long a page's never-identified events are kept.
SEG_BROWSER_RATE_SHARE = float(os.environ.get("SEG_BROWSER_RATE_SHARE") or 0.5)
SEG_BROWSER_SLICE = float(os.environ.get("SEG_BROWSER_SLICE") or 0.25)
SEG_BROWSER_RETENTION = float(os.environ.get("SEG_BROWSER_RETENTION") or 24 * 60 * 60)
SEG_CLIENT_IP_HEADER = os.environ.get("SEG_CLIENT_IP_HEADER") or None
# The key pages' signed identifies are checked with; unset: derived from SECRET_KEY.
SEG_IDENTITY_SECRET = os.environ.get("SEG_IDENTITY_SECRET") or None
# The key of the hashes erasure requests keep and suppression matches; unset: derived
# from SECRET_KEY (set it before rotating SECRET_KEY).
SEG_ERASURE_KEY = os.environ.get("SEG_ERASURE_KEY") or None
# Rows an erasure request deletes per transaction.
SEG_ERASURE_BATCH = int(os.environ.get("SEG_ERASURE_BATCH") or 1000)
# Seconds a page's signature vouches for its user.
SEG_SIGNATURE_MAX_AGE = float(os.environ.get("SEG_SIGNATURE_MAX_AGE") or 24 * 60 * 60)
# The consent categories Seg belongs to (comma-separated ids); unset: not enforced.
SEG_CONSENT_CATEGORIES = env_list("SEG_CONSENT_CATEGORIES")
# Seconds within which an identify that says what Seg accepted last is not sent again.
SEG_IDENTIFY_REFRESH = float(os.environ.get("SEG_IDENTIFY_REFRESH") or 24 * 60 * 60)
# Whether a staff member or superuser logged in on the shop is a customer, named to
# Seg (off unless 1, on, true or yes): an operator is not, by default.
SEG_IDENTIFY_STAFF = env_bool("SEG_IDENTIFY_STAFF")
# Who may read /metrics: a bearer token, and/or client addresses or networks
# (comma-separated); neither: refused unless DEBUG. Which readiness checks fail /readyz.
SEG_METRICS_TOKEN = os.environ.get("SEG_METRICS_TOKEN") or None
SEG_METRICS_ALLOWED_IPS = env_list("SEG_METRICS_ALLOWED_IPS")
SEG_READY_REQUIRES = env_list("SEG_READY_REQUIRES", "database")
# Where a worker on a host with no web process serves its counters ("127.0.0.1:9808").
SEG_WORKER_METRICS_BIND = os.environ.get("SEG_WORKER_METRICS_BIND") or None
# OpenTelemetry traces (the otel extra), exported over OTLP/HTTP as OTEL_* variables say.
SEG_TRACING = env_bool("SEG_TRACING")
# Keep each customer's events in the shop's order (on unless 0, off, false or no).
SEG_ORDER_PER_CUSTOMER = os.environ.get("SEG_ORDER_PER_CUSTOMER", "").lower() not in {
    "0",
    "off",
    "false",
    "no",
}

# --- Celery: at-least-once delivery over Redis ---------------------------
# The settings Seg's guarantees rest on (late acks, reject on worker lost,
# prefetch 1, the visibility timeout, the consumer that survives losing Redis,
# the sweeper's beat schedule, the seg queue), each commented in the module.
from integrations.celery_settings import *  # noqa: E402, F403
from integrations.celery_settings import beat_schedule  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "seg"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = beat_schedule(SEG_SWEEP_INTERVAL)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "integrations": {"handlers": ["console"], "level": os.environ.get("SEG_LOG_LEVEL", "INFO")},
    },
}
