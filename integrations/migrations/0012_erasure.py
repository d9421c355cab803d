# Erasure requests, suppressed identifiers, and the index that finds a visitor's events.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0010_retention_of_anonymous'),
    ]

    operations = [
        migrations.CreateModel(
            name='ErasureRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('delete', 'delete'), ('suppress', 'suppress'), ('both', 'delete and suppress'), ('unsuppress', 'unsuppress')], help_text='What was asked.', max_length=16, verbose_name='kind')),
                ('requested_by', models.CharField(help_text="The admin user, the command's --by, or the Python API's caller.", max_length=150, verbose_name='requested by')),
                ('requested_at', models.DateTimeField(default=django.utils.timezone.now, help_text='When the request landed.', verbose_name='requested')),
                ('finished_at', models.DateTimeField(blank=True, help_text='When it was carried out; blank while running.', null=True, verbose_name='finished')),
                ('digests', models.JSONField(blank=True, default=list, help_text='HMAC-SHA256 (SEG_ERASURE_KEY) of each email, userId and anonymousId the request reached; the identifiers themselves are not kept.', verbose_name='identifier hashes')),
                ('counts', models.JSONField(blank=True, default=dict, help_text='Rows deleted, by model (events, attempts, status changes, identities…).', verbose_name='rows deleted')),
                ('seg_to_tell', models.BooleanField(default=False, help_text='Whether Seg must be asked to erase the customer too (it has no deletion API).', verbose_name='Seg must be told')),
                ('seg_told_at', models.DateTimeField(blank=True, help_text='When the operator marked Seg as told; blank while that step is still to do.', null=True, verbose_name='Seg told')),
                ('seg_told_by', models.CharField(blank=True, help_text='Who marked Seg as told.', max_length=150, verbose_name='Seg told by')),
            ],
            options={
                'verbose_name': 'erasure request',
                'verbose_name_plural': 'erasure requests',
                'ordering': ('-requested_at', '-id'),
                'permissions': (('erase_customer', 'Can erase and suppress customers'),),
            },
        ),
        migrations.CreateModel(
            name='Suppression',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('digest', models.CharField(help_text="HMAC-SHA256 (SEG_ERASURE_KEY) of a kind and an id: 'email:…', 'user:…'.", max_length=64, unique=True, verbose_name='identifier hash')),
                ('refused', models.PositiveBigIntegerField(default=0, help_text='Calls refused at ingest since it was made.', verbose_name='calls refused')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, help_text='When the suppression was made.', verbose_name='created')),
            ],
            options={
                'verbose_name': 'suppressed identifier',
                'verbose_name_plural': 'suppressed identifiers',
            },
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('email', '')), fields=['anonymous_id'], name='seg_event_anonymous'),
        ),
        migrations.AddIndex(
            model_name='erasurerequest',
            index=models.Index(condition=models.Q(('seg_to_tell', True), ('seg_told_at__isnull', True)), fields=['requested_at'], name='seg_erasure_seg_to_tell'),
        ),
        migrations.AddField(
            model_name='suppression',
            name='request',
            field=models.ForeignKey(blank=True, help_text='The request that made it.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='suppressions', to='integrations.erasurerequest', verbose_name='request'),
        ),
    ]
