"""Which identities and aliases a backfill of the shop's history alone made known. Rows
stored before count as live: nothing tells history from live calls among them, and a
live row is the one a backfilled alias may never move."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0018_live_since"),
    ]

    operations = [
        migrations.AddField(
            model_name="alias",
            name="history",
            field=models.BooleanField(
                default=False,
                help_text="Made by a backfill of the shop's history: a later backfilled alias may replace it, and a live alias from the same email makes it live for good.",
                verbose_name="history only",
            ),
        ),
        migrations.AddField(
            model_name="identity",
            name="history",
            field=models.BooleanField(
                default=False,
                help_text="Only a backfill of the shop's history made it known: a later backfilled call may replace it, and a live call that writes it (an identify giving it an email, even the same one) makes it live for good.",
                verbose_name="history only",
            ),
        ),
    ]
