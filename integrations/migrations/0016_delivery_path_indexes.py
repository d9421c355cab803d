"""Fewer index entries for each delivery, and room on the event table's pages.

seg_event_status holds only the end states (retention's own condition), so a
delivery's insert and claim write no entry to it; seg_event_server_line goes,
its probe served by seg_event_in_line. The event table leaves a tenth of each
new page free (fillfactor 90, PostgreSQL only), so that an update that changes
no indexed column (a wake-up's mark) is a HOT update, written on its own page
with no index entry.
"""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def _fillfactor(percent: int):  # type: ignore[no-untyped-def]
    def alter(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            table = schema_editor.quote_name(apps.get_model("integrations", "Event")._meta.db_table)
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {percent})")

    return alter


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0015_event_website"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="event",
            name="seg_event_status",
        ),
        migrations.RemoveIndex(
            model_name="event",
            name="seg_event_server_line",
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                condition=models.Q(
                    (
                        "status__in",
                        (
                            "delivered",
                            "ignored",
                            "failed",
                            "expired",
                            "suppressed",
                            "withheld",
                            "unchanged",
                        ),
                    )
                ),
                fields=["status", "-received_at"],
                name="seg_event_status",
            ),
        ),
        migrations.RunPython(_fillfactor(90), _fillfactor(100), elidable=True),
    ]
