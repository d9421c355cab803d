from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "benchmarks.peers.outbox"
    label = "peers_outbox"
    verbose_name = "Peer: django-celery-outbox"
