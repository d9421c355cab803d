"""The example project's settings plus the peers: only the peers benchmark uses this module."""

from segproject.settings import *  # noqa: F403
from segproject.settings import INSTALLED_APPS

INSTALLED_APPS = [
    *INSTALLED_APPS,
    "django_celery_outbox",
    "benchmarks.peers.naive",
    "benchmarks.peers.outbox",
]
# django-celery-outbox's one required setting: the OutboxCelery app its relay publishes with.
CELERY_OUTBOX_APP = "benchmarks.peers.outbox.celery.app"
