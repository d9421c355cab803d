"""An example Django project that feeds Seg through the integrations app."""

from .celery import app as celery_app

__all__ = ("celery_app",)
