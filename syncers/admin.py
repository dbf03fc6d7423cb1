"""Operator console. Admin classes only load objects, check permissions and call services."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from .forms import PauseForm, SyncClientForm
from .models import FailedRecord, SyncClient, SyncedRecord, SyncRun, SyncSchedule
from .services import client_pause, client_resume, sync_run_request


class SyncScheduleInline(admin.TabularInline):
    model = SyncSchedule
    extra = 0
    fields = ["kind", "cron", "timezone", "every", "period", "run_at", "enabled", "beat_entry"]
    readonly_fields = ["beat_entry"]

    @admin.display(description="beat")
    def beat_entry(self, obj: SyncSchedule) -> str:
        task = obj.periodic_task
        if task is None:
            return "-"
        last = f", last fired {timesince(task.last_run_at)} ago" if task.last_run_at else ""
        return f"{'enabled' if task.enabled else 'disabled'}{last}"


@admin.register(SyncClient)
class SyncClientAdmin(admin.ModelAdmin):
    form = SyncClientForm
    inlines = [SyncScheduleInline]
    list_display = ["name", "handler", "connection", "queue", "state", "last_run"]
    list_filter = ["state", "connection", "queue", "handler"]
    search_fields = ["name", "description"]
    actions = ["run_now", "pause", "resume", "resume_and_run"]
    readonly_fields = [
        *("state", "pause_reason", "paused_by", "paused_at", "paused_until"),
        *("error_level", "consecutive_failures", "checkpoint", "checkpoint_at", "fence"),
    ]
    fieldsets = [
        (None, {"fields": ["name", "description", "connection", "handler", "config"]}),
        ("Loading", {"fields": ["batch_size", "queue"]}),
        (
            "Errors and notifications",
            {"fields": ["pause_durations", "max_failures", "max_duration", "notify_emails"]},
        ),
        (
            "State",
            {
                "fields": [
                    *("state", "pause_reason", "paused_by", "paused_at", "paused_until"),
                    *("error_level", "consecutive_failures", "checkpoint", "checkpoint_at", "fence"),
                ]
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SyncClient]:
        # The last run comes with the list query: the page costs the same queries for 10 or 10,000 clients.
        last = SyncRun.objects.filter(client=OuterRef("pk")).order_by("-pk")
        return (
            super()
            .get_queryset(request)
            .select_related("connection")
            .annotate(
                last_run_id=Subquery(last.values("pk")[:1]),
                last_run_status=Subquery(last.values("status")[:1]),
                last_run_at=Subquery(last.values("queued_at")[:1]),
            )
        )

    @admin.display(description="last run")
    def last_run(self, obj: SyncClient) -> str:
        if getattr(obj, "last_run_id", None) is None:
            return "never"
        url = reverse("admin:syncers_syncrun_change", args=[obj.last_run_id])
        age = timesince(obj.last_run_at, timezone.now())
        return format_html('<a href="{}">{}</a>, {} ago', url, obj.last_run_status, age)

    def has_run_permission(self, request: HttpRequest, obj: SyncClient | None = None) -> bool:
        return request.user.has_perm("syncers.run_syncclient")

    @admin.action(description="Run now", permissions=["run"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[SyncClient]) -> None:
        for client in queryset:
            self._queue_run(request, client)

    def has_pause_permission(self, request: HttpRequest, obj: SyncClient | None = None) -> bool:
        return request.user.has_perm("syncers.pause_syncclient")

    @admin.action(description="Pause (asks for a reason)", permissions=["pause"])
    def pause(self, request: HttpRequest, queryset: QuerySet[SyncClient]) -> HttpResponse | None:
        form = PauseForm(request.POST if "reason" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Pause sync clients",
                "form": form,
                "clients": queryset,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            }
            return TemplateResponse(request, "admin/syncers/syncclient/pause.html", context)
        hours = form.cleaned_data["hours"]
        until = timezone.now() + timedelta(hours=hours) if hours else None
        for client in queryset:
            client_pause(
                client=client,
                who=request.user.get_username(),
                reason=form.cleaned_data["reason"],
                until=until,
            )
            self.log_change(request, client, f"Paused: {form.cleaned_data['reason']}")
        self.message_user(request, f"Paused {queryset.count()} client(s).", messages.SUCCESS)
        return None

    @admin.action(description="Resume (skip missed runs)", permissions=["pause"])
    def resume(self, request: HttpRequest, queryset: QuerySet[SyncClient]) -> None:
        self._resume(request, queryset, run_now=False)

    @admin.action(description="Resume and run once now", permissions=["pause"])
    def resume_and_run(self, request: HttpRequest, queryset: QuerySet[SyncClient]) -> None:
        self._resume(request, queryset, run_now=True)

    def _resume(self, request: HttpRequest, queryset: QuerySet[SyncClient], *, run_now: bool) -> None:
        for client in queryset:
            run = client_resume(client=client, who=request.user.get_username(), run_now=run_now)
            self.log_change(request, client, "Resumed" + (f", queued run #{run.pk}" if run else ""))
        self.message_user(request, f"Resumed {queryset.count()} client(s).", messages.SUCCESS)

    def get_urls(self) -> list:
        extra = [
            path(
                "<int:pk>/run-now/",
                self.admin_site.admin_view(self.run_now_view),
                name="syncers_syncclient_run_now",
            )
        ]
        return extra + super().get_urls()

    def run_now_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_run_permission(request):
            raise PermissionDenied
        client = get_object_or_404(SyncClient, pk=pk)
        self._queue_run(request, client)
        return HttpResponseRedirect(reverse("admin:syncers_syncclient_change", args=[pk]))

    def _queue_run(self, request: HttpRequest, client: SyncClient) -> None:
        run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, user=request.user)
        self.log_change(request, client, f"Run now: queued run #{run.pk}")
        url = reverse("admin:syncers_syncrun_change", args=[run.pk])
        self.message_user(
            request,
            format_html('Queued <a href="{}">run #{}</a> of {}.', url, run.pk, client),
            messages.SUCCESS,
        )

    def render_change_form(
        self, request: HttpRequest, context: dict, *args: object, **kwargs: object
    ) -> HttpResponse:
        context["can_run"] = self.has_run_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Logs and records are written by the pipeline only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the sync log is the audit trail; deleting a running run would drop its batches

    list_display = [
        "pk",
        "client",
        "trigger",
        "triggered_by",
        "status",
        "queued_at",
        "took",
        "pages",
        "fetched",
        "created",
        "updated",
        "unchanged",
        "failed",
    ]
    list_filter = ["status", "trigger", "client"]
    search_fields = ["client__name", "error", "triggered_by"]
    date_hierarchy = "queued_at"

    @admin.display(description="duration")
    def took(self, obj: SyncRun) -> str:
        return f"{obj.duration:.1f}s" if obj.duration is not None else "-"


@admin.register(FailedRecord)
class FailedRecordAdmin(ReadOnlyAdmin):
    list_display = ["pk", "client", "external_id", "reason", "attempts", "run", "created_at"]
    list_filter = ["client"]
    search_fields = ["external_id", "reason"]


@admin.register(SyncedRecord)
class SyncedRecordAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "client", "updated_at", "created_at"]
    list_filter = ["client"]
    search_fields = ["external_id"]
