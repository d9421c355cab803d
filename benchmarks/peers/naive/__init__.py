"""The naive peer: a model row and one Celery task per event, queued on commit."""
