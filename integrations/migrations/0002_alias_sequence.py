from datetime import UTC, datetime, timedelta

from django.db import migrations, models


def number_existing(apps, schema_editor):
    """Existing aliases keep their order: their sequence is their creation time."""
    Alias = apps.get_model("integrations", "Alias")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for alias in Alias.objects.only("pk", "created_at").iterator():
        micros = (alias.created_at - epoch) // timedelta(microseconds=1)
        Alias.objects.filter(pk=alias.pk).update(sequence=micros)


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="alias",
            name="sequence",
            field=models.BigIntegerField(
                default=0,
                help_text=(
                    "Orders aliases, newest highest (microseconds since 1970 when it was made, "
                    "kept above every alias it was checked against). Where aliases loop, the "
                    "newest wins."
                ),
                verbose_name="sequence",
            ),
        ),
        migrations.AlterField(
            model_name="alias",
            name="previous_email",
            field=models.CharField(
                help_text="The email the customer had; a later alias from it replaces this row.",
                max_length=254,
                unique=True,
                verbose_name="previous email",
            ),
        ),
        migrations.AlterField(
            model_name="alias",
            name="email",
            field=models.CharField(
                db_index=True,
                help_text="The email they moved to.",
                max_length=254,
                verbose_name="new email",
            ),
        ),
        migrations.RunPython(number_existing, migrations.RunPython.noop),
    ]
