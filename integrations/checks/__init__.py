"""What is wrong with the setup, or with delivery: Django's system checks and the
dashboard's warning.

``configuration`` checks the settings, ``websites`` those of several stores,
``workers`` the Celery side (an app that carries the tasks, workers that take
them), and ``health`` whether delivery is moving (``W005``); ``readiness`` whether
the database, the broker and a worker answer, for the readiness endpoint and
``seg_health``. Nothing here imports a model: ``apps.py`` registers these checks
before the models are loaded.
"""

from . import configuration
from .health import delivery_stall
from .readiness import CHECKS as READINESS_CHECKS
from .readiness import Probe, readiness, ready
from .websites import check_websites, check_websites_reached

ALL_CHECKS = (*configuration.ALL_CHECKS, check_websites)
DATABASE_CHECKS = (*configuration.DATABASE_CHECKS, check_websites_reached)

__all__ = [
    "ALL_CHECKS",
    "DATABASE_CHECKS",
    "READINESS_CHECKS",
    "Probe",
    "delivery_stall",
    "readiness",
    "ready",
]
