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
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from . import charts, selectors
from .admin_views import RunViews, retry_and_report
from .models import ClientGrant, FailedRecord, SyncClient, SyncedRecord, SyncRun
from .permissions import may_see_rows, sees_all_rows, user_can, user_grants, visible_client_ids
from .run_context import describe_context
from .selectors import older_copies_text
from .wording import run_status_label


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


@admin.register(SyncRun)
class SyncRunAdmin(RunViews, ClientScopedAdmin):
    list_display = [
        *("pk", "client", "trigger", "triggered_by", "status_column", "queued_at", "took"),
        *("counts", "progress", "error_short"),
    ]
    list_filter = ["status", "trigger", CLIENT_FILTER]
    search_fields = ["client__name", "error", "triggered_by"]
    date_hierarchy = "queued_at"
    fieldsets = [
        (
            None,
            {"fields": ["client", "trigger", "schedule", "context_note", "triggered_by", "forced", "status"]},
        ),
        ("Timing", {"fields": ["queued_at", "started_at", "finished_at", "took"]}),
        (
            "Counts",
            {"fields": ["pages", "fetched", "created", "updated", "unchanged", "failed", "older_note"]},
        ),
        ("Error", {"fields": ["error", "error_kind", "retry_after", "notes"]}),
        ("Cancel", {"fields": ["cancel_requested", "cancel_requested_by", "cancel_requested_at"]}),
    ]
    readonly_fields = ["took", "older_note", "context_note"]

    def get_fieldsets(self, request: HttpRequest, obj: SyncRun | None = None) -> list:
        # The cancel section folds away unless someone asked to cancel this run.
        if obj is not None and obj.cancel_requested:
            return self.fieldsets
        return [*self.fieldsets[:-1], ("Cancel", {**self.fieldsets[-1][1], "classes": ["collapse"]})]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the sync log is the audit trail; deleting a running run would drop its batches

    @admin.display(description="duration")
    @admin.display(description="extra context")
    def context_note(self, obj: SyncRun) -> str:
        return describe_context(obj.context or {}) or "-"

    def took(self, obj: SyncRun) -> str:
        return f"{obj.duration:.1f}s" if obj.duration is not None else "-"

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: SyncRun) -> SafeString:
        cancel = " (cancel requested)" if obj.cancel_requested and not obj.is_final else ""
        return format_html(
            '<span class="sync-nowrap"><span class="sync-dot" style="background:{}"></span>{}</span>{}',
            charts.colour(obj.status),
            run_status_label(obj.status),
            cancel,
        )

    @admin.display(description="counts")
    def counts(self, obj: SyncRun) -> SafeString:
        return format_html(
            '<span class="sync-counts">{} fetched <span class="sync-muted">({} pages)</span><br>'
            "{} new · {} updated · {} same · {} failed{}</span>",
            obj.fetched,
            obj.pages,
            obj.created,
            obj.updated,
            obj.unchanged,
            obj.failed,
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
            '<div class="sync-progress sync-compact" data-progress-url="{}"><div class="sync-progress-bar">'
            '<div class="sync-progress-fill" style="width:0%"></div></div>'
            '<span data-field="progress_text"></span> <span data-field="phase"></span></div>',
            url,
        )

    @admin.display(description="error")
    def error_short(self, obj: SyncRun) -> str:
        return Truncator(obj.error).chars(80)

    def get_urls(self) -> list[URLPattern]:
        return self.run_urls() + super().get_urls()

    def render_change_form(
        self, request: HttpRequest, context: dict, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        run = context.get("original")
        if run is not None:
            context["progress"] = selectors.run_progress(run=run)
            context["can_cancel"] = not run.is_final and user_can(request.user, "cancel", run.client)
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(FailedRecord)
class FailedRecordAdmin(ClientScopedAdmin):
    list_display = [
        "pk", "client", "external_id", "reason", "attempts", "run", "created_at", "last_seen_at", "payload_short",
    ]  # fmt: skip
    list_filter = [CLIENT_FILTER]
    search_fields = ["external_id", "reason"]
    actions = ["retry_selected"]
    fields = [
        "client", "run", "batch", "external_id", "record_key", "reason", "attempts", "created_at", "last_seen_at",
        "payload_pretty",
    ]  # fmt: skip
    readonly_fields = ["payload_pretty"]

    @admin.display(description="payload")
    def payload_short(self, obj: FailedRecord) -> str:
        return Truncator(obj.payload).chars(80)

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
