import hashlib
from typing import Any

from django.db import models

from syncers.wording import counted

from .clients import SyncClient
from .runs import SyncBatch, SyncRun


class SyncedRecord(models.Model):
    """A record as the API last served it, one row per (client, external id). Written only by
    the set-based merge in syncers.pipeline.merge."""

    client = models.ForeignKey(
        SyncClient,
        on_delete=models.CASCADE,
        db_index=False,  # the (client, external_id) unique index serves client lookups; one index less to write
        # No FOREIGN KEY constraint: PostgreSQL checks one per inserted row (a locking query
        # each, about a third of a first sync's merge), while every load already holds the
        # client row FOR KEY SHARE for its whole transaction (pipeline.fence) and deleting a
        # client first locks that row FOR UPDATE (syncers.schedules.signals), so no row can outlive it.
        db_constraint=False,
        related_name="records",
        verbose_name="client",
        help_text="Client that synced it.",
    )
    external_id = models.CharField("external id", max_length=255, help_text="The record's id at the source.")
    data = models.JSONField("data", help_text="The record as served.")
    content_hash = models.CharField(
        "content hash",
        max_length=32,
        blank=True,
        help_text="Hash of the stored content. SQLite: of the canonical JSON (equal: unchanged). "
        "PostgreSQL: MD5 of the record's compact JSON as staged, so a re-sync skips an equal "
        "record before staging it (empty when the row-by-row merge wrote the row; the merge "
        "itself compares the jsonb). Destination: of the mapped row.",
    )
    source_seq = models.BigIntegerField(
        "source sequence",
        help_text="Batch that last wrote it; an older batch never overwrites a newer one.",
    )
    version = models.DecimalField(
        "version",
        max_digits=38,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="The stored copy's version (the source's version field as epoch seconds or number); "
        "empty without a version field. A copy with a lower version never replaces it.",
    )
    created_batch = models.BigIntegerField("created by batch", help_text="Batch that inserted it.")
    # Destination clients only: this table is then the ledger of the rows in their model.
    last_seen_run = models.BigIntegerField(
        "last seen by run",
        null=True,
        blank=True,
        help_text="Destination: the last run that wrote this key; a run that saw it unchanged lists it "
        "in its batch's seen keys instead (deletions compare both).",
    )
    target_pk = models.CharField(  # noqa: DJ001 (null: the generic merge's INSERTs leave it out)
        "target primary key",
        max_length=64,
        null=True,
        blank=True,
        help_text="Destination: primary key of the row in the destination model.",
    )
    missing_since = models.DateTimeField(
        "missing since",
        null=True,
        blank=True,
        help_text="Destination: when a complete listing no longer served it and the row was "
        "soft-deleted or deleted; cleared when it comes back.",
    )
    created_at = models.DateTimeField("first synced", auto_now_add=True)
    updated_at = models.DateTimeField("last changed", auto_now=True)

    class Meta:
        verbose_name = "synced record"
        constraints = [
            models.UniqueConstraint(fields=["client", "external_id"], name="syncedrecord_client_external_id")
        ]

    def __str__(self) -> str:
        return f"{self.client}:{self.external_id}"


class FailedRecord(models.Model):
    """A record that could not be stored, kept with its reason so it can be seen and retried:
    one row per (client, record key), however often the record fails."""

    client = models.ForeignKey(
        SyncClient,
        on_delete=models.CASCADE,
        related_name="failed_records",
        verbose_name="client",
        help_text="Client that fetched it.",
    )
    run = models.ForeignKey(
        SyncRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="failed_records",
        verbose_name="run",
        help_text="Run that tried it.",
    )
    batch = models.ForeignKey(
        SyncBatch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="failed_records",
        verbose_name="batch",
        help_text="Batch it came in.",
    )
    external_id = models.CharField(
        "external id",
        max_length=255,
        blank=True,
        help_text="Its id at the source, when it had one.",
    )
    record_key = models.CharField(
        "record key",
        max_length=255,
        default="",
        help_text="Its external id, or sha256:<digest of its payload> when it has no usable id.",
    )
    payload = models.TextField("payload", help_text="The record exactly as served (JSON text).")
    reason = models.TextField("reason", help_text="Why it could not be stored.")
    attempts = models.PositiveIntegerField("attempts", default=1, help_text="Times loading was tried.")
    created_at = models.DateTimeField("first seen", auto_now_add=True, help_text="When it first failed.")
    last_seen_at = models.DateTimeField("last seen", auto_now=True, help_text="When it last failed.")

    class Meta:
        verbose_name = "failed record"
        ordering = ["-last_seen_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["client", "record_key"], name="failedrecord_client_record_key")
        ]

    def __str__(self) -> str:
        return f"{self.client}:{self.external_id or '?'} ({self.reason[:40]})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.record_key:
            self.record_key = failed_record_key(self.external_id, self.payload)
        super().save(*args, **kwargs)


def failed_record_key(external_id: str, payload: str) -> str:
    """The identity of a failed record: its id, else a digest of its payload text."""
    return external_id or "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


class PendingDeletion(models.Model):
    """Deletions the mass-deletion guard held back: exactly these keys, waiting for an
    operator to approve (apply them) or reject (discard them)."""

    class State(models.TextChoices):
        WAITING = "waiting", "waiting for approval"
        APPROVED = "approved", "approved and applied"
        REJECTED = "rejected", "rejected"

    client = models.ForeignKey(
        SyncClient,
        on_delete=models.CASCADE,
        related_name="pending_deletions",
        verbose_name="client",
        help_text="Client whose rows would be deleted.",
    )
    run = models.ForeignKey(
        SyncRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pending_deletions",
        verbose_name="run",
        help_text="The complete run that found these keys missing.",
    )
    keys = models.JSONField("keys", help_text="Natural keys of the rows to delete, exactly as approved.")
    live_rows = models.PositiveIntegerField("live rows", help_text="Rows of the client before the deletion.")
    reason = models.TextField("reason", help_text="Why the guard stopped the deletion.")
    action = models.CharField("action", max_length=10, help_text="soft or delete, as the destination said.")
    state = models.CharField(
        "state", max_length=10, choices=State.choices, default=State.WAITING, db_index=True
    )
    decided_by = models.CharField("decided by", max_length=150, blank=True, help_text="Operator who decided.")
    decided_at = models.DateTimeField("decided at", null=True, blank=True)
    applied = models.PositiveIntegerField("applied", default=0, help_text="Rows deleted on approval.")
    created_at = models.DateTimeField("held at", auto_now_add=True)

    class Meta:
        verbose_name = "pending deletion"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.client}: {counted(len(self.keys), 'deletion')} {self.state}"
