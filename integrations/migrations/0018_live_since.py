"""When the shop's server first sent a live call, kept apart from the events retention
deletes; recorded here from the oldest server event a shop upgrading still holds."""

import django.utils.timezone
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def record(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    events = apps.get_model("integrations", "Event").objects.filter(source="server")
    oldest = events.aggregate(models.Min("received_at"))["received_at__min"]
    if oldest is not None:
        apps.get_model("integrations", "LiveSince").objects.create(pk=1, at=oldest)


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
                        help_text="When the app received the oldest call of the shop's server it held.",
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
