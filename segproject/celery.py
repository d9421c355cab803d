"""The Celery app: reads CELERY_* settings from Django settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "segproject.settings")

app = Celery("segproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
