"""The run log, failed records, synced records and client grants in the admin. Runs and
records are written by the pipeline only; here they are read, cancelled and retried."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from syncers import selectors
from syncers.console import charts
from syncers.console.cells import clipped, clipped_column
from syncers.console.views import RunViews, retry_and_report
from syncers.models import ClientGrant, FailedRecord, SyncClient, SyncedRecord, SyncRun
from syncers.permissions import may_see_rows, sees_all_rows, user_can, user_grants, visible_client_ids
from syncers.run_context import describe_context
from syncers.wording import counted, older_copies_text, run_status_label


class VisibleClientFilter(admin.RelatedFieldListFilter):
    """The client filter lists only the clients this user may see (a grant on one client
    must not reveal the names of the others)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        visible = visible_client_ids(request.user)
        ordering = self.field_admin_ordering(field, request, model_admin)
        limit = None if visible is None else {"pk__in": visible}
        return field.get_choices(include_blank=False, ordering=ordering, limit_choices_to=limit)


CLIENT_FILTER = ("client", VisibleClientFilter)


class ClientScopedAdmin(admin.ModelAdmin):
    """Read-only rows of a client: visible with the model's view permission, or for the
    clients the user holds a grant on."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def _model_view(self, request: HttpRequest) -> bool:
        return sees_all_rows(request.user, self.model)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or bool(user_grants(request.user))

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return may_see_rows(request.user, self.model, getattr(obj, "client_id", None) if obj else None)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request).select_related("client")
        return qs if self._model_view(request) else qs.filter(client_id__in=list(user_grants(request.user)))


LIVE_FIELDS = [
    *("live_status", "live_pages", "live_fetched", "live_created", "live_updated"),
    *("live_unchanged", "live_failed", "live_finished_at", "live_took"),
]


def progress_of(run: SyncRun) -> dict[str, Any]:
    """The run's progress, computed once per page however many fields show it."""
    cached: dict[str, Any] | None = getattr(run, "_progress", None)
    if cached is None:
        cached = selectors.run_progress(run=run)
        run._progress = cached  # type: ignore[attr-defined]  # a per-request cache on the instance
    return cached


def live_field(label: str, key: str) -> Any:
    """A read-only field showing `key` of the run's progress, marked for the progress poll."""

    @admin.display(description=label)
    def show(self: admin.ModelAdmin, obj: SyncRun) -> SafeString:
        value: Any = progress_of(obj)
        for part in key.split("."):
            value = value[part]
        return format_html(
            '<span class="sync-live sync-wrap" data-run-id="{}" data-field="{}">{}</span>', obj.pk, key, value
        )

    return show


@admin.register(SyncRun)
class SyncRunAdmin(RunViews, ClientScopedAdmin):
    list_display = [
        *("pk", "client", "trigger_column", "status_column", "queued_at", "took"),
        *("counts", "error_short"),
    ]
    list_filter = ["status", "trigger", CLIENT_FILTER]
    search_fields = ["client__name", "error", "triggered_by"]
    date_hierarchy = "queued_at"
    # Fields that change while the run is live are drawn from its progress (live_*), so the
    # poll that moves the bar updates them too and they never disagree with the summary. The
    # error itself is in the summary box at the top only; its kind, the wait the API asked for
    # and the run's notes get sections of their own when they say something (get_fieldsets).
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "client",
                    "trigger",
                    "schedule",
                    "context_note",
                    "triggered_by",
                    "forced",
                    "live_status",
                ]
            },
        ),
        ("Timing", {"fields": ["queued_at", "started_at", "live_finished_at", "live_took"]}),
        (
            "Counts",
            {
                "fields": [
                    *("live_pages", "live_fetched", "live_created", "live_updated", "live_unchanged"),
                    *("live_failed", "older_note", "listing_total", "continued_from"),
                ]
            },
        ),
        ("Cancel", {"fields": ["cancel_requested", "cancel_requested_by", "cancel_requested_at"]}),
    ]
    readonly_fields = ["took", "older_note", "context_note", *LIVE_FIELDS]

    live_status = live_field("status", "status_label")
    live_pages = live_field("pages", "pages")
    live_fetched = live_field("fetched", "fetched")
    live_created = live_field("created", "counts.created")
    live_updated = live_field("updated", "counts.updated")
    live_unchanged = live_field("unchanged", "counts.unchanged")
    live_failed = live_field("failed", "counts.failed")
    live_finished_at = live_field("finished", "finished_at")
    live_took = live_field("duration", "took")

    def get_fieldsets(self, request: HttpRequest, obj: SyncRun | None = None) -> list:
        sections: list[Any] = list(self.fieldsets[:-1])
        cancel = self.fieldsets[-1]
        if obj is not None:
            failure = ["error_kind"] if obj.error_kind else []
            failure += ["retry_after"] if obj.retry_after is not None else []
            if failure:
                sections.append(("Error details", {"fields": failure}))
            if obj.notes:
                sections.append(("Notes", {"fields": ["notes"]}))
        # The cancel section folds away unless someone asked to cancel this run.
        if obj is None or not obj.cancel_requested:
            cancel = ("Cancel", {**cancel[1], "classes": ["collapse"]})
        return [*sections, cancel]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the sync log is the audit trail; deleting a running run would drop its batches

    @admin.display(description="extra context")
    def context_note(self, obj: SyncRun) -> str:
        return describe_context(obj.context or {}, obj.trigger) or "-"

    @admin.display(description="duration")
    def took(self, obj: SyncRun) -> str:
        return f"{obj.duration:.1f}s" if obj.duration is not None else "-"

    @admin.display(description="trigger", ordering="trigger")
    def trigger_column(self, obj: SyncRun) -> SafeString:
        who = (
            format_html('<br><span class="sync-muted">{}</span>', obj.triggered_by)
            if obj.triggered_by
            else ""
        )
        return format_html("{}{}", obj.trigger, who)

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: SyncRun) -> SafeString:
        """The status; under it, while the run is live, its progress (one column, one poll)."""
        cancel = " (cancel requested)" if obj.cancel_requested and not obj.is_final else ""
        live = "" if obj.is_final else str(obj.pk)  # a live run's status follows its progress poll
        return format_html(
            '<span class="sync-nowrap"><span class="sync-dot" style="background:{}"></span>'
            '<span data-run-id="{}" data-field="status_label">{}</span></span>{}{}',
            charts.colour(obj.status),
            live,
            run_status_label(obj.status),
            cancel,
            self.progress(obj),
        )

    @admin.display(description="counts")
    def counts(self, obj: SyncRun) -> SafeString:
        # Each count whole on its line: a narrow column wraps between counts, not inside one.
        parts = [
            f"{obj.created} new", f"{obj.updated} updated", f"{obj.unchanged} same", f"{obj.failed} failed",
        ]  # fmt: skip
        return format_html(
            '<span class="sync-counts"><span class="sync-nowrap">{} fetched</span> '
            '<span class="sync-muted sync-nowrap">({})</span><br>{}{}</span>',
            obj.fetched,
            counted(obj.pages, "page"),
            format_html_join(" · ", '<span class="sync-nowrap">{}</span>', ((part,) for part in parts)),
            f" ({older_copies_text(obj.older)})" if obj.older else "",
        )

    @admin.display(description="older copies")
    def older_note(self, obj: SyncRun) -> str:
        return older_copies_text(obj.older) or "none"

    @admin.display(description="progress")
    def progress(self, obj: SyncRun) -> SafeString | str:
        if obj.is_final:
            return ""
        url = reverse("admin:syncers_syncrun_progress", args=[obj.pk])
        return format_html(
            '<div class="sync-progress sync-compact" data-progress-url="{}" data-run="{}">'
            '<div class="sync-progress-bar sync-indeterminate"><div class="sync-progress-fill"></div></div>'
            '<span data-field="progress_text"></span><br><span class="sync-muted" data-field="phase"></span></div>',
            url,
            obj.pk,
        )

    @admin.display(description="error")
    def error_short(self, obj: SyncRun) -> SafeString:
        return clipped(obj.error)

    def get_urls(self) -> list[URLPattern]:
        return self.run_urls() + super().get_urls()

    def render_change_form(
        self, request: HttpRequest, context: dict, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        run = context.get("original")
        if run is not None:
            context["progress"] = progress_of(run)
            context["can_cancel"] = not run.is_final and user_can(request.user, "cancel", run.client)
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(FailedRecord)
class FailedRecordAdmin(ClientScopedAdmin):
    list_display = [
        "pk", "client", "external_id_cell", "reason_cell", "attempts", "run_link", "created_at", "last_seen_at",
        "payload_short",
    ]  # fmt: skip
    external_id_cell = clipped_column("external_id", "external id", 40)
    reason_cell = clipped_column("reason", "reason")
    list_filter = [CLIENT_FILTER]
    search_fields = ["external_id", "reason"]
    actions = ["retry_selected"]
    fields = [
        "client", "run", "batch", "external_id", "record_key", "reason", "attempts", "created_at", "last_seen_at",
        "payload_pretty",
    ]  # fmt: skip
    readonly_fields = ["payload_pretty"]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # A run's page links to its own failed records (?run__id__exact=N).
        return lookup == "run__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="payload")
    def payload_short(self, obj: FailedRecord) -> SafeString:
        return clipped(obj.payload, 60)

    @admin.display(description="run", ordering="run")
    def run_link(self, obj: FailedRecord) -> SafeString | str:
        if obj.run_id is None:
            return "-"
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:syncers_syncrun_change", args=[obj.run_id]), obj.run_id
        )

    @admin.display(description="payload")
    def payload_pretty(self, obj: FailedRecord) -> SafeString:
        try:
            text = json.dumps(json.loads(obj.payload), indent=2, ensure_ascii=False)
        except ValueError:
            text = obj.payload
        return format_html('<pre class="sync-payload">{}</pre>', text)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return user_can(request.user, "retry")

    @admin.action(description="Retry selected failed records", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[FailedRecord]) -> None:
        by_client: dict[int, list[int]] = defaultdict(list)
        for client_id, pk in queryset.values_list("client_id", "pk"):
            by_client[client_id].append(pk)
        clients = SyncClient.objects.in_bulk(list(by_client))
        if not all(user_can(request.user, "retry", client) for client in clients.values()):
            raise PermissionDenied
        for client_id, ids in by_client.items():
            retry_and_report(self, request, clients[client_id], ids)


@admin.register(SyncedRecord)
class SyncedRecordAdmin(ClientScopedAdmin):
    list_display = ["external_id", "client", "updated_at", "created_at"]
    list_filter = [CLIENT_FILTER]
    search_fields = ["external_id"]


@admin.register(ClientGrant)
class ClientGrantAdmin(admin.ModelAdmin):
    list_display = ["client", "user", "group", "can_run", "can_pause", "can_cancel", "can_retry", "can_edit"]
    list_filter = ["client", "group"]
    search_fields = ["client__name", "user__username", "group__name"]
