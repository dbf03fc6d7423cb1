"""Plugins: what is installed (with its validated config), what each plugin may touch
(PluginPermission: requested on discovery, granted or refused by an operator; only grants
count), what it did (PluginRun, PluginAuditEntry), the shared plugin cache when there is no
Redis, and the tables of the reference `data_syncer` plugin (sync_logs, sync_progress,
sync_items). The rules live in syncers.plugins; these are the rows."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from syncers.validators import PLUGIN_CONFIG, PLUGIN_GRANT, validator


class InstalledPlugin(models.Model):
    """One discovered plugin: its manifest as last seen, its config and whether it may run."""

    class Mode(models.TextChoices):
        TRUSTED = "trusted", "trusted"
        RESTRICTED = "restricted", "restricted (exact grants only, no wildcards)"

    name = models.SlugField("name", max_length=100, unique=True, help_text="The manifest's plugin name.")
    version = models.CharField("version", max_length=40, help_text="Manifest version last discovered.")
    description = models.TextField("description", blank=True, help_text="What the plugin does.")
    mode = models.CharField(
        "execution mode", max_length=20, choices=Mode.choices, help_text="From the manifest."
    )
    actions = models.JSONField("actions", default=list, blank=True, help_text="Actions its handle() offers.")
    enabled = models.BooleanField(
        "enabled", default=True, help_text="Disabled plugins are not started and refuse calls and tasks."
    )
    config = models.JSONField(
        "config", default=dict, blank=True, help_text="Checked against the plugin's config schema on save."
    )
    installed = models.BooleanField(
        "code installed", default=True, help_text="False when no installed app registers it any more."
    )
    discovered_at = models.DateTimeField("discovered", default=timezone.now, help_text="First seen.")
    started_at = models.DateTimeField("last started", null=True, blank=True, help_text="Last on_start.")
    stopped_at = models.DateTimeField("last stopped", null=True, blank=True, help_text="Last on_stop.")
    last_error = models.TextField("last error", blank=True, help_text="Why the last start or stop failed.")

    class Meta:
        verbose_name = "plugin"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def clean(self) -> None:
        self.config = validator(PLUGIN_CONFIG)(self.name, self.config)


class PluginPermission(models.Model):
    """A resource pattern and actions for one plugin. Requested rows come from the manifest;
    an operator grants or refuses them (or adds a narrower grant). Only granted rows count."""

    class State(models.TextChoices):
        REQUESTED = "requested", "requested (not granted)"
        GRANTED = "granted", "granted"
        REFUSED = "refused", "refused"

    plugin = models.ForeignKey(
        InstalledPlugin,
        on_delete=models.CASCADE,
        related_name="permissions",
        verbose_name="plugin",
        help_text="Who asks.",
    )
    resource = models.CharField(
        "resource",
        max_length=200,
        help_text="db.<table>, cache.<key>, service:scheduler, service:worker, gateway:<connection>, "
        "plugin:<name>; '*' matches any characters.",
    )
    actions = models.CharField(
        "actions", max_length=100, help_text="Comma-separated: read, write, execute, or * for all."
    )
    state = models.CharField(
        "state",
        max_length=20,
        choices=State.choices,
        default=State.REQUESTED,
        db_index=True,
        help_text="Only granted rows let the plugin act.",
    )
    from_manifest = models.BooleanField(
        "requested by the plugin", default=False, help_text="False for grants an operator added by hand."
    )
    decided_by = models.CharField(
        "decided by", max_length=150, blank=True, help_text="Who granted or refused."
    )
    decided_at = models.DateTimeField("decided at", null=True, blank=True, help_text="When.")

    class Meta:
        verbose_name = "plugin permission"
        ordering = ["plugin__name", "resource"]
        constraints = [
            models.UniqueConstraint(fields=["plugin", "resource"], name="pluginpermission_plugin_resource")
        ]

    def __str__(self) -> str:
        return f"{self.plugin.name}: {self.resource} [{self.actions}] {self.state}"

    def clean(self) -> None:
        self.actions = validator(PLUGIN_GRANT)(
            self.resource, self.actions, mode=self.plugin.mode, state=self.state
        )


class PluginRun(models.Model):
    """One execution: an action call (plugin_call, admin), a scheduled job or a worker task.
    A worker task's kwargs wait here and its message carries only this row's id; its result
    is stored here too (there is no Celery result backend), so the sender polls this row."""

    class Kind(models.TextChoices):
        ACTION = "action", "action"
        JOB = "job", "scheduled job"
        TASK = "task", "worker task"

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        DENIED = "denied", "denied (missing permission)"

    plugin = models.CharField("plugin", max_length=100, db_index=True, help_text="Whose code ran.")
    kind = models.CharField("kind", max_length=10, choices=Kind.choices, help_text="What ran.")
    name = models.CharField("name", max_length=200, help_text="Action, job id or task name.")
    payload = models.JSONField(
        "payload", default=dict, blank=True, help_text="Action payload or task kwargs."
    )
    queue = models.CharField("queue", max_length=100, blank=True, help_text="Worker queue (tasks).")
    requested_by = models.CharField(
        "requested by", max_length=150, blank=True, help_text="User, command, schedule or plugin."
    )
    status = models.CharField(
        "status", max_length=10, choices=Status.choices, default=Status.QUEUED, help_text="Where it is."
    )
    result = models.JSONField("result", null=True, blank=True, help_text="What it returned (JSON).")
    error = models.TextField("error", blank=True, help_text="Why it failed or was denied.")
    attempts = models.PositiveSmallIntegerField("attempts", default=0, help_text="Executions started.")
    created_at = models.DateTimeField("created", auto_now_add=True, help_text="When it was asked for.")
    dispatched_at = models.DateTimeField("sent", null=True, blank=True, help_text="Last message sent.")
    started_at = models.DateTimeField("started", null=True, blank=True, help_text="Last start.")
    finished_at = models.DateTimeField("finished", null=True, blank=True, help_text="When it ended.")

    class Meta:
        verbose_name = "plugin run"
        ordering = ["-pk"]
        indexes = [models.Index(fields=["status", "kind"], name="pluginrun_status_kind")]

    def __str__(self) -> str:
        return f"{self.plugin} {self.kind} {self.name} #{self.pk}"


class PluginAuditEntry(models.Model):
    """What was refused or decided: each denied service use, grant decisions, lifecycle."""

    at = models.DateTimeField("at", default=timezone.now, db_index=True, help_text="When.")
    plugin = models.CharField("plugin", max_length=100, db_index=True, help_text="Which plugin.")
    event = models.CharField("event", max_length=20, help_text="denied, granted, refused, started...")
    resource = models.CharField("resource", max_length=200, blank=True, help_text="What it touched.")
    action = models.CharField("action", max_length=20, blank=True, help_text="How.")
    actor = models.CharField("actor", max_length=150, blank=True, help_text="Operator, for decisions.")
    run = models.ForeignKey(
        PluginRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit",
        verbose_name="run",
        help_text="The run it happened in, if any.",
    )
    detail = models.TextField("detail", blank=True, help_text="The message.")

    class Meta:
        verbose_name = "plugin audit entry"
        verbose_name_plural = "plugin audit log"
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.plugin} {self.event} {self.resource}"


class PluginCacheEntry(models.Model):
    """Plugin cache values when REDIS_URL is empty (the local-memory cache is per process)."""

    key = models.CharField("key", max_length=250, primary_key=True, help_text="Namespaced key.")
    value = models.JSONField("value", null=True, help_text="JSON value.")
    expires_at = models.FloatField("expires at", null=True, help_text="Unix time; empty: never.")

    class Meta:
        verbose_name = "plugin cache entry"

    def __str__(self) -> str:
        return self.key


# --- Tables of the reference data_syncer plugin (reached only through the db service) ---


class SyncProgress(models.Model):
    """One data_syncer sync while its batches load: the counter its finaliser reads."""

    started_at = models.DateTimeField("started", default=timezone.now, help_text="When items were staged.")
    trigger = models.CharField("trigger", max_length=20, help_text="schedule or force_sync.")
    items = models.PositiveIntegerField("items", default=0, help_text="Items fetched and staged.")
    batches_total = models.PositiveIntegerField("batches", default=0, help_text="Batches dispatched.")
    batches_done = models.PositiveIntegerField("batches done", default=0, help_text="Committed batches.")
    items_done = models.PositiveIntegerField("items loaded", default=0, help_text="Items committed.")
    lock_token = models.CharField("lock token", max_length=64, blank=True, help_text="Owner of the lock.")
    finished_at = models.DateTimeField("finished", null=True, blank=True, help_text="Set by the finaliser.")

    class Meta:
        db_table = "sync_progress"
        verbose_name = "data syncer progress"
        verbose_name_plural = "data syncer progress"

    def __str__(self) -> str:
        return f"sync #{self.pk}: {self.batches_done}/{self.batches_total} batches"


class SyncLog(models.Model):
    """data_syncer's log: one row per finished sync, written after its workers committed."""

    timestamp = models.DateTimeField("timestamp", default=timezone.now, help_text="When it finished.")
    count = models.PositiveIntegerField("count", help_text="Items the workers loaded.")
    sync = models.OneToOneField(
        SyncProgress,
        null=True,
        on_delete=models.SET_NULL,
        related_name="log",
        verbose_name="sync",
        help_text="The sync it logs (one row per sync, enforced).",
    )

    class Meta:
        db_table = "sync_logs"
        verbose_name = "data syncer log entry"
        verbose_name_plural = "data syncer log"
        ordering = ["-timestamp"]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S}: {self.count} items"


class SyncItem(models.Model):
    """An item data_syncer loaded, keyed on its id in the source (newest write wins)."""

    external_id = models.CharField("external id", max_length=200, unique=True, help_text="Id in the source.")
    data = models.JSONField("data", help_text="The raw item.")
    sync_id = models.PositiveIntegerField("sync", help_text="Last sync that wrote it.")
    updated_at = models.DateTimeField("updated", default=timezone.now, help_text="Last write.")

    class Meta:
        db_table = "sync_items"
        verbose_name = "data_syncer item"

    def __str__(self) -> str:
        return self.external_id
