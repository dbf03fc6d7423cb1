from __future__ import annotations

import datetime

from django.db import models
from django.utils import timezone

from .clients import SyncClient, SyncSchedule


class SyncRun(models.Model):
    """The sync log: one row per run, whatever started it. Counts are summed from the
    batches' merge results in the database, never from what was sent."""

    # Added by syncers.models.grants (add_to_class); declared here for the type checker only.
    cancel_requested: bool
    cancel_requested_by: str
    cancel_requested_at: datetime.datetime | None

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        PARTIAL = "partial", "partial (some records failed)"
        FAILED = "failed", "failed"
        SKIPPED_LOCKED = "skipped_locked", "skipped: another run holds the lease"
        SKIPPED_PAUSED = "skipped_paused", "skipped: client paused or disabled"
        CANCELLED = "cancelled", "cancelled"
        ABANDONED = "abandoned", "abandoned (its process died or lost the lease)"

    FINAL = frozenset(
        {
            Status.SUCCEEDED,
            Status.PARTIAL,
            Status.FAILED,
            Status.SKIPPED_LOCKED,
            Status.SKIPPED_PAUSED,
            Status.CANCELLED,
            Status.ABANDONED,
        }
    )

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "schedule"
        ADMIN = "admin", "admin"
        COMMAND = "command", "command"
        RECOVERY = "recovery", "recovery (resumes an abandoned run)"
        WEBHOOK = "webhook", "webhook (records pushed to /hooks/<client>/)"
        API = "api", "API (POST /api/clients/<client>/run/)"

    client = models.ForeignKey(
        SyncClient,
        on_delete=models.CASCADE,
        related_name="runs",
        verbose_name="client",
        help_text="The client that ran.",
    )
    trigger = models.CharField(
        "trigger",
        max_length=20,
        choices=Trigger.choices,
        help_text="What started the run.",
    )
    schedule = models.ForeignKey(
        SyncSchedule,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        verbose_name="schedule",
        help_text="The schedule that fired it, if any.",
    )
    context = models.JSONField(
        "extra context",
        default=dict,
        blank=True,
        help_text='What the schedule that fired it added: {"schedule": id, "params": {...}, "full": true}.',
    )
    triggered_by = models.CharField(
        "who",
        max_length=150,
        blank=True,
        help_text="User name, or the schedule, that asked for the run.",
    )
    forced = models.BooleanField(
        "forced",
        default=False,
        help_text="Run once anyway although the client was paused (sync_run --force): the pause stays.",
    )
    status = models.CharField(
        "status",
        max_length=20,
        choices=Status.choices,
        default=Status.QUEUED,
        db_index=True,
        help_text="Where the run is; final statuses never change.",
    )
    queued_at = models.DateTimeField(
        "queued",
        default=timezone.now,
        db_index=True,
        help_text="When the run was asked for.",
    )
    started_at = models.DateTimeField("started", null=True, blank=True, help_text="When it took the lease.")
    finished_at = models.DateTimeField(
        "finished", null=True, blank=True, help_text="When it reached a final status."
    )
    fence = models.BigIntegerField(
        "fence",
        null=True,
        blank=True,
        editable=False,
        help_text="Fence number taken at start; stale fences cannot write.",
    )
    lease_token = models.CharField(
        "lease token",
        max_length=64,
        blank=True,
        editable=False,
        help_text="Owner token of the client lease while the run holds it.",
    )
    fetch_done = models.BooleanField(
        "fetch done",
        default=False,
        editable=False,
        help_text="All pages were staged (or fetching stopped with an error).",
    )
    pages = models.PositiveIntegerField("pages", default=0, help_text="Pages fetched and staged.")
    fetched = models.PositiveIntegerField("fetched", default=0, help_text="Records received from the API.")
    created = models.PositiveIntegerField("created", default=0, help_text="Rows inserted.")
    updated = models.PositiveIntegerField("updated", default=0, help_text="Rows whose content changed.")
    unchanged = models.PositiveIntegerField(
        "unchanged",
        default=0,
        help_text="Rows skipped: same content hash, or older than stored.",
    )
    failed = models.PositiveIntegerField("failed", default=0, help_text="Records kept in failed records.")
    deleted = models.PositiveIntegerField(
        "deleted",
        default=0,
        help_text="Destination rows soft-deleted or deleted because the complete listing no longer served them.",
    )
    listing_complete = models.BooleanField(
        "complete listing",
        default=False,
        editable=False,
        help_text="Read the whole listing from its start to its end (not incremental, not "
        "resumed, not stopped early): only such a run may delete.",
    )
    listing_total = models.PositiveIntegerField(
        "records listed",
        null=True,
        blank=True,
        editable=False,
        help_text="How many records the API said its listing holds (X-Total-Count or total_path), "
        "when it said so on a listing read from its start; only then does the progress show a percentage.",
    )
    continued_from = models.CharField(
        "continued from",
        max_length=300,
        blank=True,
        default="",
        db_default="",
        editable=False,
        help_text="Earlier work this run took over: the page it resumed at (the checkpoint an "
        "earlier run left) and the unloaded batches it adopted.",
    )
    older = models.PositiveIntegerField(
        "older copies ignored",
        default=0,
        db_default=0,
        help_text="Copies older (by the source's version field) than one served or stored; counted unchanged too.",
    )
    error = models.TextField("error", blank=True, help_text="Why the run failed or stopped early.")
    notes = models.TextField(
        "notes",
        blank=True,
        default="",
        db_default="",
        help_text="What the run noticed without failing, e.g. that the listing changed while it was read.",
    )
    error_kind = models.CharField(
        "error kind",
        max_length=20,
        blank=True,
        help_text="Class of the failure (TransientError, AuthError, PermanentError, PayloadError, ...).",
    )
    retry_after = models.FloatField(
        "retry after (s)", null=True, blank=True, help_text="How long the API asked us to wait, if it did."
    )

    class Meta:
        verbose_name = "sync run"
        ordering = ["-queued_at", "-pk"]
        indexes = [
            models.Index(fields=["client", "status"]),
            # The dashboard's per-hour/day outcome counts and per-client sums over a time window
            # read these three columns only (bench/dashboard.py: 114 -> 77 ms at 100,000 runs).
            models.Index(fields=["queued_at", "status", "client"], name="syncrun_queued_status_client"),
        ]

    def __str__(self) -> str:
        return f"{self.client} run #{self.pk} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def counts(self) -> dict[str, int]:
        return {
            k: getattr(self, k) for k in ("pages", "fetched", "created", "updated", "unchanged", "failed")
        }


class SyncBatch(models.Model):
    """A chunk of staged records waiting to be loaded. The staged data lives here, not in
    the broker: a lost message is re-sent by the reconciler, and loading twice is harmless."""

    # Records pushed to the webhook hold no lease, so nothing can go stale: they load unfenced.
    UNFENCED = -1

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        DONE = "done", "done"

    client = models.ForeignKey(
        SyncClient,
        on_delete=models.CASCADE,
        related_name="batches",
        verbose_name="client",
        help_text="Owning client.",
    )
    run = models.ForeignKey(
        SyncRun,
        on_delete=models.CASCADE,
        related_name="batches",
        verbose_name="run",
        help_text="The run that loads it (a newer run adopts leftovers).",
    )
    fence = models.BigIntegerField("fence", help_text="Fence of the run that owns it.")
    page = models.PositiveIntegerField(
        "page",
        help_text="Source page it came from (the first one: a re-sync's changed records of later pages may join it).",
    )
    size = models.PositiveIntegerField("size", help_text="Records staged in it.")
    payload = models.TextField(
        "payload",
        blank=True,
        help_text="Staged records as a JSON array; emptied once loaded.",
    )
    state = models.CharField("state", max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField("dispatches", default=0, help_text="Times sent to a worker.")
    dispatched_at = models.DateTimeField("last dispatched", null=True, blank=True)
    loaded_at = models.DateTimeField("loaded", null=True, blank=True)
    created = models.PositiveIntegerField("created", default=0)
    updated = models.PositiveIntegerField("updated", default=0)
    unchanged = models.PositiveIntegerField("unchanged", default=0)
    failed = models.PositiveIntegerField("failed", default=0)
    older = models.PositiveIntegerField("older copies ignored", default=0, db_default=0)
    seen_keys = models.JSONField(
        "seen keys",
        null=True,
        blank=True,
        help_text="Destination: keys of this batch the ledger was not rewritten for (unchanged or "
        "failed); with the ledger's last_seen_run they say which keys its run saw.",
    )

    class Meta:
        verbose_name = "staged batch"
        verbose_name_plural = "staged batches"
        indexes = [
            models.Index(fields=["run", "state"]),
            models.Index(fields=["state", "dispatched_at"]),
        ]

    def __str__(self) -> str:
        return f"batch #{self.pk} of {self.client} page {self.page} ({self.state})"
