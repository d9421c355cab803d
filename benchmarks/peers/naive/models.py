"""The shop's own record of an event for Seg, as most shops write it."""

from __future__ import annotations

from django.db import models


class SegEvent(models.Model):
    # Declared: mypy reads the product's settings, where this app is not installed.
    objects: models.Manager[SegEvent] = models.Manager()

    message = models.JSONField(help_text="The Segment message the shop made.")
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the shop stored it.")
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When Seg accepted it; empty until then."
    )

    def __str__(self) -> str:
        return f"SegEvent {self.pk}"
