"""The app's handlers around Celery tasks act on its own tasks, never on the shop's."""

from __future__ import annotations

import pytest
from celery import shared_task
from django.db import connection

from integrations import tasks


@shared_task(name="shop.send_newsletter")
def send_newsletter() -> None:
    """A task of the shop's own."""


@pytest.mark.django_db(transaction=True)
def test_connections_are_tidied_around_the_apps_tasks_only() -> None:
    connection.ensure_connection()
    connection.close_at = 0  # past CONN_MAX_AGE: Django would close it after a request
    tasks.close_old_connections_around_a_task(sender=send_newsletter)
    assert connection.connection is not None
    tasks.close_old_connections_around_a_task(sender=tasks.deliver_event)
    assert connection.connection is None
