from django.apps import AppConfig


class NaiveConfig(AppConfig):
    name = "benchmarks.peers.naive"
    label = "peers_naive"
    verbose_name = "Peer: a row and a Celery task per event"
