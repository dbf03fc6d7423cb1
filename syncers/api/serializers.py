"""What the API reads (validated, errors name the field) and writes (documented in the
schema; built from the same plain data the selectors give the admin and the commands)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

# --- Input ---------------------------------------------------------------------------------


class RunNowIn(serializers.Serializer):
    force = serializers.BooleanField(
        default=False,
        help_text="Run a paused client once anyway (recorded as forced; the pause stays), "
        "as `sync_run --force`; needs the pause permission as well as run.",
    )
    full = serializers.BooleanField(
        default=False,
        help_text="List everything from the start, ignoring an incremental client's cursor, as "
        "`sync_run --full` or a schedule's `full`.",
    )
    params = serializers.JSONField(
        required=False,
        default=dict,
        help_text='Query parameters for this run only, merged into the source\'s own (e.g. {"region": "eu"}); '
        "checked as a schedule's params: the source must take query parameters and may not have "
        "these set by paging or its cursor.",
    )


class PauseIn(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, help_text="Shown in the admin, sync_status and notifications."
    )
    until = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Resume by itself then (ISO 8601); absent: until resumed."
    )
    disable = serializers.BooleanField(
        default=False, help_text="Disable instead: pushed records are refused too, until resumed."
    )

    def validate_until(self, value: Any) -> Any:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("the pause must end in the future")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("disable") and attrs.get("until"):
            raise serializers.ValidationError(
                {"until": ["a disabled client stays disabled until resumed: leave out until"]}
            )
        return attrs


class ResumeIn(serializers.Serializer):
    run_now = serializers.BooleanField(default=False, help_text="Start one run right away (needs run too).")


class RetryIn(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        allow_empty=False,
        max_length=10_000,
        help_text="Failed record ids to retry; absent: all of the client's.",
    )


class ListQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    offset = serializers.IntegerField(min_value=0, max_value=2**31, default=0)


class FailedQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=50)


# --- Output --------------------------------------------------------------------------------


class ErrorOut(serializers.Serializer):
    error = serializers.CharField(help_text="What is wrong, starting with the field when one is to blame.")
    field = serializers.CharField(allow_null=True, help_text="The (dotted) input field to fix, or null.")
    # A declared field named like Serializer.fields: DRF's metaclass takes it out of the class.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Every field's messages (bad input only)."
    )
    reason = serializers.CharField(required=False, help_text="Why a paused client was not run.")


class ScheduleOut(serializers.Serializer):
    schedule = serializers.CharField()
    enabled = serializers.BooleanField()
    next = serializers.CharField(allow_null=True, help_text="Next fire (ISO 8601, the schedule's time zone).")


class RunBriefOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    trigger = serializers.CharField()
    queued_at = serializers.CharField()
    duration_s = serializers.FloatField(allow_null=True)
    pages = serializers.IntegerField()
    fetched = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    failed = serializers.IntegerField()
    deleted = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)


class DeletionsBriefOut(serializers.Serializer):
    count = serializers.IntegerField()
    reason = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)
    action = serializers.CharField()


class ClientOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    handler = serializers.CharField()
    queue = serializers.CharField()
    state = serializers.CharField(help_text="active, backoff, auth, paused or disabled.")
    state_label = serializers.CharField()
    pause_reason = serializers.CharField(allow_blank=True)
    paused_by = serializers.CharField(allow_blank=True)
    paused_until = serializers.DateTimeField(allow_null=True)
    run_refused = serializers.CharField(
        allow_blank=True, help_text="Why run now is refused without force ('' when it is not)."
    )
    active_run = serializers.IntegerField(allow_null=True, help_text="The queued or running run, if any.")
    actions = serializers.ListField(
        child=serializers.CharField(), help_text="What this token's user may do here: run, pause, ..."
    )


class ClientDetailOut(ClientOut):
    error_level = serializers.IntegerField()
    failures_in_a_row = serializers.IntegerField()
    needs_operator = serializers.ListField(child=serializers.CharField())
    schedules = ScheduleOut(many=True)
    last_run = RunBriefOut(allow_null=True)
    failed_records = serializers.IntegerField()
    deletions_waiting = DeletionsBriefOut(allow_null=True)


class ClientPageOut(serializers.Serializer):
    count = serializers.IntegerField()
    results = ClientOut(many=True)


class CountsOut(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    failed = serializers.IntegerField()


class RunOut(serializers.Serializer):
    id = serializers.IntegerField()
    client = serializers.CharField()
    trigger = serializers.CharField()
    triggered_by = serializers.CharField(allow_blank=True)
    forced = serializers.BooleanField()
    context = serializers.JSONField(  # type: ignore[assignment]  # DRF names its field like Field.context
        help_text="Extra context the run was given: `schedule` (the schedule that fired it), "
        "`params`, `full`; {} when none."
    )
    status = serializers.CharField()
    status_label = serializers.CharField()
    final = serializers.BooleanField(help_text="True once the run has ended.")
    phase = serializers.CharField()
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    fetch_done = serializers.BooleanField()
    pages = serializers.IntegerField()
    fetched = serializers.IntegerField()
    batches_total = serializers.IntegerField()
    batches_done = serializers.IntegerField()
    loaded = serializers.IntegerField()
    percent = serializers.IntegerField()
    progress_text = serializers.CharField()
    elapsed = serializers.FloatField()
    records_per_second = serializers.FloatField()
    counts = CountsOut(help_text="So far while it runs; final once it has ended.")
    deleted = serializers.IntegerField()
    older = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    notes = serializers.CharField(allow_blank=True)
    cancel_requested = serializers.BooleanField()
    cancel_requested_by = serializers.CharField(allow_blank=True)
    cancel_note = serializers.CharField(allow_blank=True)


class RunQueuedOut(serializers.Serializer):
    run = serializers.IntegerField(help_text="The run's id: poll GET /api/runs/<run>/.")
    client = serializers.CharField()
    status = serializers.CharField()
    forced = serializers.BooleanField()
    url = serializers.CharField()


class ResumeOut(serializers.Serializer):
    client = ClientOut()
    run = serializers.IntegerField(allow_null=True, help_text="The run started with run_now, if any.")
    not_run = serializers.CharField(
        allow_blank=True, help_text="Why run_now did not start one ('' if it did)."
    )


class RetryOut(serializers.Serializer):
    staged = serializers.IntegerField()
    superseded = serializers.IntegerField(help_text="Dropped: a newer version is already stored.")
    run = serializers.IntegerField(allow_null=True, help_text="The run that loads them, if any.")


class FailedRecordOut(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_blank=True, allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    attempts = serializers.IntegerField()
    failed_at = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)
    payload = serializers.JSONField()


class FailedListOut(serializers.Serializer):
    client = serializers.CharField()
    total = serializers.IntegerField()
    failed = FailedRecordOut(many=True)


class PendingDeletionOut(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField(help_text="soft or delete: what approving does to the rows.")
    reason = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    keys = serializers.ListField(child=serializers.CharField())


class DeletionsOut(serializers.Serializer):
    client = serializers.CharField()
    waiting = PendingDeletionOut(allow_null=True)


class DecisionOut(serializers.Serializer):
    client = serializers.CharField()
    decision = serializers.CharField()
    keys = serializers.IntegerField()
    applied = serializers.IntegerField(allow_null=True, help_text="Rows changed (approve only).")
    message = serializers.CharField()


class PluginActionOut(serializers.Serializer):
    plugin = serializers.CharField()
    action = serializers.CharField()
    result = serializers.DictField(help_text="The plugin's JSON result.")


class PluginJobOut(serializers.Serializer):
    id = serializers.CharField(help_text="The job's id within its plugin.")
    call = serializers.CharField(help_text="The plugin's method it runs.")
    kwargs = serializers.DictField(help_text="The keyword arguments it is called with.")
    schedule = serializers.CharField(help_text="'cron ...', 'every N period' or 'once at ...'.")
    enabled = serializers.BooleanField()
    next_run = serializers.CharField(allow_null=True, help_text="When beat sends it next; null when paused.")
    last_run = serializers.CharField(allow_null=True)
    total_runs = serializers.IntegerField()


class PluginJobsOut(serializers.Serializer):
    plugin = serializers.CharField()
    jobs = PluginJobOut(many=True)


class HealthOut(serializers.Serializer):
    healthy = serializers.BooleanField()
    checks = serializers.ListField(child=serializers.DictField())
    clients = serializers.ListField(child=serializers.DictField())
    plugins = serializers.ListField(child=serializers.DictField())
    plugin_tasks = serializers.DictField()
