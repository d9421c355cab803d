"""When the shop's server first sent a live call, kept apart from the events retention
deletes; recorded here for a shop upgrading, from the oldest server event it still holds
when none older can have been deleted, else as not known (NULL)."""

from datetime import timedelta

import django.utils.timezone
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import StateApps

from integrations import conf


def record(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """The first-received server event's receipt (its timestamp, if earlier), when nothing
    can have been deleted yet: it and the app's install (its first migration) younger than
    SEG_RETENTION_DAYS, read as ``outbox.purge`` reads it, and no erasure request that
    deleted events. Else a row with ``at`` NULL: not known. No server event at all: no row
    (the shop's server has sent nothing yet; the first purge or backfill records it)."""
    events = apps.get_model("integrations", "Event").objects.filter(source="server")
    first = events.order_by("received_at", "pk").values_list("received_at", "timestamp").first()
    if first is None:
        return
    cutoff = django.utils.timezone.now() - timedelta(days=conf.get_setting("SEG_RETENTION_DAYS"))
    installed = (
        MigrationRecorder(schema_editor.connection)
        .migration_qs.filter(app="integrations", name="0001_initial")
        .values_list("applied", flat=True)
        .first()
    )
    erased = apps.get_model("integrations", "ErasureRequest").objects.filter(
        kind__in=("delete", "both")
    )
    kept = first[0] > cutoff and installed is not None and installed > cutoff
    # Its own date if earlier: a live order's (date_placed) is a moment before its receipt.
    at = min(first) if kept and not erased.exists() else None
    apps.get_model("integrations", "LiveSince").objects.create(pk=1, at=at)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0017_backfillrun_suppressed"),
    ]

    operations = [
        migrations.CreateModel(
            name="LiveSince",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "at",
                    models.DateTimeField(
                        blank=True,
                        help_text=(
                            "When the app received the first call of the shop's server it "
                            "held, or that call's own date if earlier; blank: not known "
                            "(events from before this was kept may have been deleted)."
                        ),
                        null=True,
                        verbose_name="first live call",
                    ),
                ),
                (
                    "recorded_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now,
                        help_text="When this moment was recorded.",
                        verbose_name="recorded",
                    ),
                ),
            ],
            options={
                "verbose_name": "start of live calls",
                "verbose_name_plural": "start of live calls",
            },
        ),
        migrations.RunPython(record, migrations.RunPython.noop),
    ]
