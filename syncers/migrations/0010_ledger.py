"""Ledger: record versions, older-copy counters, one failed record per (client, record key)."""

import hashlib

from django.db import migrations, models


def collapse_failed_records(apps, schema_editor):
    """Key every failed record and fold repeats into the newest row: attempts summed, first
    seen the earliest failure, last seen the latest."""
    failed = apps.get_model("syncers", "FailedRecord")
    kept = {}
    for row in failed.objects.order_by("created_at", "pk").iterator():
        key = row.external_id or "sha256:" + hashlib.sha256(row.payload.encode()).hexdigest()
        first = kept.get((row.client_id, key))
        row.record_key, row.last_seen_at = key, row.created_at
        if first is not None:
            row.attempts += first.attempts
            row.created_at = first.created_at
            first.delete()
        failed.objects.filter(pk=row.pk).update(
            record_key=key, attempts=row.attempts, created_at=row.created_at, last_seen_at=row.last_seen_at
        )
        kept[(row.client_id, key)] = row


class Migration(migrations.Migration):
    dependencies = [
        ("syncers", "0009_security_hook_deliveries_encrypted_fields"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="failedrecord",
            options={"ordering": ["-last_seen_at", "-pk"], "verbose_name": "failed record"},
        ),
        migrations.AddField(
            model_name="failedrecord",
            name="last_seen_at",
            field=models.DateTimeField(
                auto_now=True, help_text="When it last failed.", verbose_name="last seen"
            ),
        ),
        migrations.AddField(
            model_name="failedrecord",
            name="record_key",
            field=models.CharField(
                default="",
                help_text="Its external id, or sha256:<digest of its payload> when it has no usable id.",
                max_length=255,
                verbose_name="record key",
            ),
        ),
        migrations.AddField(
            model_name="syncbatch",
            name="older",
            field=models.PositiveIntegerField(db_default=0, default=0, verbose_name="older copies ignored"),
        ),
        migrations.AddField(
            model_name="syncedrecord",
            name="version",
            field=models.DecimalField(
                blank=True,
                decimal_places=6,
                help_text="The stored copy's version (the source's version field as epoch seconds or number); empty without a version field. A copy with a lower version never replaces it.",
                max_digits=38,
                null=True,
                verbose_name="version",
            ),
        ),
        migrations.AddField(
            model_name="syncrun",
            name="older",
            field=models.PositiveIntegerField(
                db_default=0,
                default=0,
                help_text="Copies older (by the source's version field) than one served or stored; counted unchanged too.",
                verbose_name="older copies ignored",
            ),
        ),
        migrations.AlterField(
            model_name="failedrecord",
            name="created_at",
            field=models.DateTimeField(
                auto_now_add=True, help_text="When it first failed.", verbose_name="first seen"
            ),
        ),
        migrations.AddField(
            model_name="syncrun",
            name="notes",
            field=models.TextField(
                blank=True,
                db_default="",
                default="",
                help_text="What the run noticed without failing, e.g. that the listing changed while it was read.",
                verbose_name="notes",
            ),
        ),
        migrations.RunPython(collapse_failed_records, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="failedrecord",
            constraint=models.UniqueConstraint(
                fields=("client", "record_key"), name="failedrecord_client_record_key"
            ),
        ),
    ]
