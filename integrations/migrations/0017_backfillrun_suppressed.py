"""A backfill run counts the items it did not store because they name a suppressed customer."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0016_delivery_path_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="backfillrun",
            name="suppressed",
            field=models.PositiveIntegerField(
                default=0,
                help_text=(
                    "Items not stored because they name a customer suppressed on request "
                    "(GDPR art. 17): counted only, nothing of them kept."
                ),
                verbose_name="suppressed",
            ),
        ),
    ]
