from __future__ import annotations

import zoneinfo
from typing import Any

from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from gateway.fields import EncryptedTextField
from gateway.models import Connection
from syncers.validators import DESTINATION, validator

# Bounded by the SQL parameter limits of one multi-row merge statement (see pipeline.merge).
MAX_BATCH_SIZE = 5000


def default_batch_size() -> int:
    return settings.SYNC_DEFAULT_BATCH_SIZE


def default_queue() -> str:
    return settings.SYNC_DEFAULT_QUEUE


class SyncClient(models.Model):
    """One sync job: where data comes from (connection + handler config), how it loads (batch
    size, queue) and whether it may run (state). Its runs and schedules hang off it."""

    class State(models.TextChoices):
        ACTIVE = "active", "active"
        BACKOFF = "backoff", "paused after errors (resumes by itself)"
        AUTH = "auth", "paused: the API refused the credentials"
        PAUSED = "paused", "paused by an operator"
        DISABLED = "disabled", "disabled"

    name = models.SlugField(
        "name",
        max_length=100,
        unique=True,
        help_text="Unique name used in commands and logs.",
    )
    description = models.TextField("description", blank=True, help_text="What this sync is for.")
    connection = models.ForeignKey(
        Connection,
        on_delete=models.PROTECT,
        related_name="sync_clients",
        verbose_name="connection",
        help_text="Gateway connection that owns auth, timeouts and retries for this API.",
    )
    handler = models.CharField(
        "handler",
        max_length=100,
        default="rest",
        help_text="Registered sync handler that reads the source (see the handler registry).",
    )
    config = models.JSONField(
        "source config",
        default=dict,
        blank=True,
        help_text="Handler options (endpoint path, records path, id field, page size...). "
        "Only the options you set are stored; the others take the handler's defaults when it runs.",
    )
    destination = models.JSONField(
        "destination",
        default=dict,
        blank=True,
        help_text="Where records land: empty for the generic records table, or one of your "
        'models, e.g. {"model": "catalog.Product", "key": ["sku"], "fields": {"sku": "sku"}} '
        "(see the docs page docs/concepts/destinations.md).",
    )
    batch_size = models.PositiveIntegerField(
        "batch size",
        default=default_batch_size,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_BATCH_SIZE)],
        help_text=f"Records per load task (1-{MAX_BATCH_SIZE}).",
    )
    queue = models.CharField(
        "queue",
        max_length=100,
        default=default_queue,
        validators=[RegexValidator(r"^[A-Za-z0-9_.-]+$", "Letters, digits, '.', '_' or '-'.")],
        help_text="Celery queue for this client's runs and batches; a worker must consume it.",
    )
    state = models.CharField(
        "state",
        max_length=20,
        choices=State.choices,
        default=State.ACTIVE,
        help_text="Paused and disabled clients record scheduled runs as skipped and make no request.",
    )
    pause_reason = models.CharField("pause reason", max_length=500, blank=True, help_text="Why it is paused.")
    paused_by = models.CharField("paused by", max_length=150, blank=True, help_text="Who paused it.")
    paused_at = models.DateTimeField("paused at", null=True, blank=True, help_text="Since when.")
    paused_until = models.DateTimeField(
        "paused until",
        null=True,
        blank=True,
        help_text="When a temporary pause ends; the client then probes the API and resumes by itself.",
    )
    error_level = models.PositiveSmallIntegerField(
        "error level", default=0, help_text="Raised by each transient failure in a row; success resets it."
    )
    consecutive_failures = models.PositiveSmallIntegerField(
        "failures in a row", default=0, help_text="Failed runs since the last success."
    )
    pause_durations = models.JSONField(
        "pause durations (s)",
        default=list,
        blank=True,
        help_text="Seconds paused at error level 1, 2, 3...; empty uses SYNC_PAUSE_DURATIONS.",
    )
    max_failures = models.PositiveSmallIntegerField(
        "auto-pause after",
        null=True,
        blank=True,
        help_text="Failed runs in a row before the client pauses until an operator resumes it; "
        "empty uses SYNC_MAX_FAILURES.",
    )
    max_duration = models.PositiveIntegerField(
        "max duration (s)",
        null=True,
        blank=True,
        help_text="A run taking longer sends a warning.",
    )
    notify_emails = models.JSONField(
        "notify e-mails",
        default=list,
        blank=True,
        help_text='Extra recipients, e.g. ["ops@example.com"]; they get warnings and errors.',
    )
    hook_secret_ciphertext = EncryptedTextField(
        "webhook secret (encrypted)",
        blank=True,
        editable=False,
        help_text="HMAC key for records pushed to /hooks/<client>/; empty: the webhook is off.",
    )
    fence = models.BigIntegerField(
        "fence",
        default=0,
        editable=False,
        help_text="Raised by every run start; writes of a run holding an older number are refused.",
    )
    checkpoint = models.JSONField(
        "checkpoint",
        null=True,
        blank=True,
        editable=False,
        help_text="Where an unfinished run stopped; the next run resumes here. Empty when the "
        "last run read the source to its end.",
    )
    checkpoint_at = models.DateTimeField("checkpoint saved", null=True, blank=True, editable=False)
    created_at = models.DateTimeField("created", auto_now_add=True)
    updated_at = models.DateTimeField("updated", auto_now=True)

    class Meta:
        verbose_name = "sync client"
        ordering = ["name"]
        permissions = [
            ("run_syncclient", "Can start a sync client run now"),
            ("pause_syncclient", "Can pause and resume a sync client"),
        ]

    # Written only by the pipeline, with conditional UPDATEs; a form or script saving a client
    # it loaded earlier must not put back an old fence or checkpoint.
    ENGINE_FIELDS = frozenset(
        {"fence", "checkpoint", "checkpoint_at", "state", "pause_reason", "paused_by", "paused_at"}
        | {"paused_until", "error_level", "consecutive_failures"}
    )

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in self.ENGINE_FIELDS
            ]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from syncers.registry import get_handler

        try:
            handler = get_handler(self.handler)
        except ValidationError as exc:
            raise ValidationError({"handler": exc.messages}) from None
        try:  # validated, but stored as the operator wrote it: runs fill in the defaults
            handler.clean_config(self.config or {})
        except ValidationError as exc:
            raise ValidationError({"config": exc.messages}) from None
        if self.destination:
            try:
                validator(DESTINATION)(self.destination)
            except ValidationError as exc:
                raise ValidationError({"destination": exc.messages}) from None
        durations = self.pause_durations or []
        if not isinstance(durations, list) or not all(isinstance(d, int) and d > 0 for d in durations):
            raise ValidationError(
                {"pause_durations": "A list of positive whole seconds, e.g. [60, 300, 3600]."}
            )
        emails = self.notify_emails or []
        if not isinstance(emails, list) or not all(isinstance(e, str) and "@" in e for e in emails):
            raise ValidationError({"notify_emails": 'A list of e-mail addresses, e.g. ["ops@example.com"].'})

    @property
    def may_run(self) -> bool:
        """Active, or a temporary pause that has ended (the run starts with a probe); and its
        connection not paused (an API down for everyone pauses all its clients)."""
        if self.connection.is_paused:
            return False
        if self.state == self.State.ACTIVE:
            return True
        return (
            self.state == self.State.BACKOFF
            and self.paused_until is not None
            and self.paused_until <= timezone.now()
        )

    def set_hook_secret(self, plaintext: str) -> None:
        from gateway import crypto

        self.hook_secret_ciphertext = crypto.encrypt(plaintext) if plaintext else ""

    def reveal_hook_secret(self) -> str:
        from gateway import crypto

        return crypto.decrypt(self.hook_secret_ciphertext) if self.hook_secret_ciphertext else ""

    @property
    def needs_probe(self) -> bool:
        return self.state == self.State.BACKOFF


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"'{value}' is not an IANA time zone (e.g. Europe/Berlin).") from None


def parse_cron(expr: str) -> dict[str, str]:
    """Five cron fields as django-celery-beat's CrontabSchedule columns; ValidationError if bad."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValidationError(
            f"A cron expression has 5 fields (minute hour day-of-month month day-of-week); got {len(fields)}."
        )
    names = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    parsed = dict(zip(names, fields, strict=True))
    try:
        crontab(**parsed)
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"Invalid cron expression '{expr}': {exc}") from None
    return parsed


class SyncSchedule(models.Model):
    """When a client runs. Each schedule is mirrored into exactly one django-celery-beat
    PeriodicTask (see syncers.schedules.mirror), so beat needs no code of ours to fire it."""

    class Kind(models.TextChoices):
        CRON = "cron", "cron"
        INTERVAL = "interval", "interval"
        ONCE = "once", "one-shot"

    client = models.ForeignKey(
        SyncClient,
        on_delete=models.CASCADE,
        related_name="schedules",
        verbose_name="client",
        help_text="The client this schedule runs.",
    )
    kind = models.CharField(
        "kind",
        max_length=10,
        choices=Kind.choices,
        default=Kind.CRON,
        help_text="Cron expression, fixed interval, or once at a date/time.",
    )
    cron = models.CharField(
        "cron",
        max_length=120,
        blank=True,
        help_text="5 fields: minute hour day-of-month month day-of-week, e.g. '*/15 * * * *'.",
    )
    timezone = models.CharField(
        "time zone",
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text="IANA time zone the cron expression is read in and the start and end are shown in.",
    )
    every = models.PositiveIntegerField(
        "every",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Interval length (with the period).",
    )
    period = models.CharField(
        "period",
        max_length=24,
        choices=IntervalSchedule.PERIOD_CHOICES,
        default=IntervalSchedule.MINUTES,
        help_text="Unit of the interval.",
    )
    run_at = models.DateTimeField(
        "run at", null=True, blank=True, help_text="Date and time of a one-shot run."
    )
    start = models.DateTimeField(
        "starts",
        null=True,
        blank=True,
        help_text="Interval schedules: the first fire is at this instant, then every interval after it. "
        "Empty: the first fire is one interval after the schedule is saved.",
    )
    end = models.DateTimeField(
        "ends",
        null=True,
        blank=True,
        help_text="Interval and cron schedules: nothing fires at or after this instant, and beat "
        "disables the schedule when it passes.",
    )
    max_runs = models.PositiveIntegerField(
        "max runs",
        null=True,
        blank=True,
        validators=[MinValueValidator(1, "Give at least 1 run, or leave it empty for no limit.")],
        help_text="Interval schedules: after this many fires the schedule disables itself "
        "(a fire while the client is paused counts). Not together with an end.",
    )
    runs_fired = models.PositiveIntegerField(
        "runs fired",
        default=0,
        editable=False,
        help_text="Fires counted against max runs, by the worker that received them.",
    )
    last_fired_at = models.DateTimeField(
        "last counted fire",
        null=True,
        blank=True,
        editable=False,
        help_text="When the worker last counted a fire against max runs.",
    )
    params = models.JSONField(
        "extra query parameters",
        default=dict,
        blank=True,
        help_text="Merged into the source's query parameters for the runs this schedule fires, e.g. "
        '{"region": "eu"}; checked against the client\'s source options.',
    )
    full = models.BooleanField(
        "full listing",
        default=False,
        help_text="Runs it fires read the whole listing from the start, ignoring an incremental "
        "cursor, so they can find (and delete) records that are gone.",
    )
    enabled = models.BooleanField("enabled", default=True, help_text="Disabled schedules do not fire.")
    periodic_task = models.OneToOneField(
        PeriodicTask,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="sync_schedule",
        verbose_name="beat task",
        help_text="The django-celery-beat entry that fires this schedule.",
    )

    class Meta:
        verbose_name = "schedule"
        ordering = ["client", "pk"]

    def __str__(self) -> str:
        return f"{self.client} · {self.describe()}"

    def describe(self) -> str:
        bounds = self.describe_bounds()
        return f"{self._describe_when()}, {bounds}" if bounds else self._describe_when()

    def _describe_when(self) -> str:
        if self.kind == self.Kind.CRON:
            return f"cron '{self.cron}' ({self.timezone})"
        if self.kind == self.Kind.INTERVAL:
            return f"every {self.every} {self.period}"
        return f"once at {self.run_at:%Y-%m-%d %H:%M %Z}" if self.run_at else "once"

    def describe_bounds(self) -> str:
        """The fixed limits ("from …", "until …", "5 times"), without what is left of them."""
        zone = self.zone()
        parts = []
        if self.start:
            parts.append(f"from {timezone.localtime(self.start, zone):%Y-%m-%d %H:%M %Z}")
        if self.end:
            parts.append(f"until {timezone.localtime(self.end, zone):%Y-%m-%d %H:%M %Z}")
        if self.max_runs:
            parts.append(f"{self.max_runs} time{'s' if self.max_runs != 1 else ''}")
        return ", ".join(parts)

    def zone(self) -> zoneinfo.ZoneInfo:
        """The schedule's time zone (UTC while the field holds no valid zone)."""
        try:
            return zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo("UTC")

    @property
    def runs_left(self) -> int | None:
        return None if self.max_runs is None else max(self.max_runs - self.runs_fired, 0)

    def clean(self) -> None:
        if self.kind == self.Kind.CRON:
            try:
                parse_cron(self.cron or "")
            except ValidationError as exc:
                raise ValidationError({"cron": exc.messages}) from None
        elif self.kind == self.Kind.INTERVAL:
            if not self.every:
                raise ValidationError({"every": "An interval schedule needs 'every'."})
        elif self.kind == self.Kind.ONCE:
            if not self.run_at:
                raise ValidationError({"run_at": "A one-shot schedule needs a date and time."})
            if self.enabled and self.run_at < timezone.now() and self._state.adding:
                raise ValidationError({"run_at": "This date and time is in the past."})
        self._clean_bounds()
        self._clean_context()

    def _clean_context(self) -> None:
        """Params must make a valid source config when merged into the client's own."""
        from syncers.registry import get_handler
        from syncers.run_context import check_params, config_with_params

        if not self.params:
            self.params = {}  # a cleared admin field arrives as None; the column holds an object
            return
        try:
            client = self.client
        except SyncClient.DoesNotExist:
            client = None  # a new client's inline: checked again when a run starts
        try:
            check_params(self.params)
            if client is not None:
                config_with_params(get_handler(client.handler), client.config or {}, self.params)
        except ValidationError as exc:
            raise ValidationError({"params": exc.messages}) from None

    def _clean_bounds(self) -> None:
        """Start only for intervals, an end for intervals and cron, a run limit for intervals
        and never with an end (two ways to stop one schedule would contradict each other)."""
        errors: dict[str, str] = {}
        if self.start and self.kind != self.Kind.INTERVAL:
            errors["start"] = "Only interval schedules take a start (a cron expression says when it fires)."
        if self.end and self.kind == self.Kind.ONCE:
            errors["end"] = "A one-shot schedule takes no end; its date and time is its only fire."
        if self.max_runs is not None and self.kind != self.Kind.INTERVAL:
            errors["max_runs"] = "Only interval schedules take a number of runs."
        if self.end and self.max_runs is not None and "max_runs" not in errors:
            errors["max_runs"] = "Give either an end or a number of runs, not both."
        if self.start and self.end and self.end <= self.start and "start" not in errors:
            errors["end"] = "The end must be after the start."
        if errors:
            raise ValidationError(errors)
