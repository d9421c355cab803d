"""The outbox peer: django-celery-outbox stores the task in the transaction, its relay sends it."""
