"""Sync clients in the operator console: the client list (state filter, live state, recent
runs) and a client's page with its schedules and grants inlines. Admin classes only load
objects, check permissions and call services; the extra views live in syncers.console.views,
the rules of who may do what in syncers.permissions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from gateway.models import Connection
from syncers.console import charts
from syncers.console.forms import PauseForm, SyncClientForm, admin_form
from syncers.console.views import ClientViews, client_console, run_url
from syncers.destinations.preview import field_choices, model_choices
from syncers.models import ClientGrant, PendingDeletion, SyncClient, SyncRun, SyncSchedule
from syncers.permissions import may_see_client, usable_connection_ids, user_can, visible_client_ids
from syncers.schedules.cron_preview import (
    TIME_FORMAT,
    schedule_bounds_left,
    schedule_next_fire,
    schedule_preview,
)
from syncers.selectors import client_list_queryset
from syncers.wording import ago, counted, run_status_label


class SyncScheduleInline(admin.TabularInline):
    model = SyncSchedule
    extra = 0
    # Each line is one table cell (schedules_inline.html): the three kinds' inputs share one
    # "when" cell (a row shows only its kind's), bounds and extra context one cell each, so a
    # client with cron, interval and one-shot schedules fits beside the sidebar at 1,400 px.
    template = "admin/syncers/syncclient/schedules_inline.html"
    fields = [
        "kind",
        ("cron", "timezone", "every", "period", "run_at"),
        ("start", "end", "max_runs"),
        ("params", "full"),
        *("enabled", "preview", "beat_entry"),
    ]
    table_columns = len(fields) + 2  # with the row's label and Delete? cells: a row error's colspan
    readonly_fields = ["preview", "beat_entry"]

    @admin.display(description="beat")
    def beat_entry(self, obj: SyncSchedule) -> str:
        task = obj.periodic_task
        if task is None:
            return "-"
        last = f", last fired {ago(task.last_run_at)}" if task.last_run_at else ""
        return f"{'enabled' if task.enabled else 'disabled'}{last}"

    @admin.display(description="next fire times")
    def preview(self, obj: SyncSchedule) -> SafeString | str:
        if obj.pk is None:
            return ""
        if obj.kind == SyncSchedule.Kind.CRON or (obj.kind == SyncSchedule.Kind.INTERVAL and obj.enabled):
            preview = schedule_preview(obj)
            fires = [when.strftime(TIME_FORMAT) for when in preview.fires]
            zone = (
                obj.timezone if obj.kind == SyncSchedule.Kind.CRON else timezone.get_current_timezone_name()
            )
            context = {"preview": preview, "fires": fires, "zone": zone, "bounds": schedule_bounds_left(obj)}
            return render_to_string("admin/syncers/syncclient/cron_preview.html", context)
        when = schedule_next_fire(obj)
        text = when.strftime(TIME_FORMAT) if when else "never (disabled, ended or past)"
        bounds = schedule_bounds_left(obj)
        return f"{text} · {bounds}" if bounds else text

    # Schedules are part of the client: whoever may edit the client may edit its schedules.
    def has_add_permission(self, request: HttpRequest, obj: SyncClient | None = None) -> bool:
        return user_can(request.user, "edit", obj) if obj else request.user.has_perm("syncers.add_syncclient")

    def has_change_permission(self, request: HttpRequest, obj: SyncClient | None = None) -> bool:
        return self.has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: SyncClient | None = None) -> bool:
        return self.has_add_permission(request, obj)

    def has_view_permission(self, request: HttpRequest, obj: SyncClient | None = None) -> bool:
        return may_see_client(request.user, obj)


class ClientGrantInline(admin.TabularInline):
    model = ClientGrant
    extra = 0
    fields = ["user", "group", "can_run", "can_pause", "can_cancel", "can_retry", "can_edit"]


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("running", "running now"), *SyncClient.State.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[SyncClient]) -> QuerySet[SyncClient]:
        value = self.value()
        if value == "running":
            running = SyncRun.objects.filter(client=OuterRef("pk"), status=SyncRun.Status.RUNNING)
            return queryset.filter(Exists(running))
        if value:
            return queryset.filter(state=value)
        return queryset


def state_badge(client: SyncClient) -> SafeString:
    """One badge that says what the client is doing (running, or its pause state), with the
    reason, who and until when beside it."""
    badge = _state_badge(client)
    if getattr(client, "deletions_held", False):
        badge += format_html(
            ' <span class="sync-badge sync-paused" id="deletions-waiting-badge" title="{}">{}</span>',
            "see the client page or sync_deletions --list",
            "deletions waiting for approval",
        )
    return badge


def live_state_badge(client: SyncClient, active: SyncRun | None) -> SafeString:
    """The client page's badge: while a run is live, "running" (following that run's progress
    poll), swapped for the client's own state once the run is final, so the badge never says
    running beside a finished run."""
    # active_run_status is the client list's queryset annotation; None here: the client's own state
    if active is None:
        client.active_run_status = None  # type: ignore[attr-defined]
        return state_badge(client)
    return _live_badge(client, active.pk, active.status)


def list_state_badge(client: SyncClient) -> SafeString:
    """The client list's badge: like the client page's, and its own progress box, so the list
    polls each live run once (_progress_js.html) and stops saying running when it ends."""
    run_id = getattr(client, "active_run_id", None)
    if run_id is None:
        return state_badge(client)
    return format_html(
        '<span class="sync-live-state" data-progress-url="{}" data-run="{}">{}</span>',
        reverse("admin:syncers_syncrun_progress", args=[run_id]),
        run_id,
        _live_badge(client, run_id, getattr(client, "active_run_status", None) or ""),
    )


def _live_badge(client: SyncClient, run_id: int, status: str) -> SafeString:
    client.active_run_status = None  # type: ignore[attr-defined]
    own = state_badge(client)
    return format_html(
        '<span data-run-id="{}" data-show="live"><span class="sync-badge sync-running" title="run in progress">'
        '<span data-field="status">{}</span></span></span>'
        '<span data-run-id="{}" data-show="final" hidden>{}</span>',
        run_id,
        status,
        run_id,
        own,
    )


def _state_badge(client: SyncClient) -> SafeString:
    status = getattr(client, "active_run_status", None)
    if status:
        return format_html('<span class="sync-badge sync-running" title="run in progress">{}</span>', status)
    state = client.state
    if state == SyncClient.State.ACTIVE:
        return SafeString('<span class="sync-badge sync-active">active</span>')
    labels: dict[str, str] = {
        SyncClient.State.BACKOFF: f"backoff L{client.error_level}",
        SyncClient.State.AUTH: "auth refused",
    }
    label = labels.get(state, state)
    until = (
        f"until {timezone.localtime(client.paused_until):%d %b %H:%M %Z} · " if client.paused_until else ""
    )
    who = f" by {client.paused_by}" if client.paused_by else ""
    return format_html(
        '<span class="sync-badge sync-{}" title="{}">{}</span><br><span class="sync-reason">{}{}</span>',
        state,
        f"{client.get_state_display()}{who}",
        label,
        until,
        client.pause_reason,
    )


@admin.register(SyncClient)
class SyncClientAdmin(ClientViews, admin.ModelAdmin):
    form = SyncClientForm
    inlines = [SyncScheduleInline, ClientGrantInline]
    list_display = ["name", "state_column", "connection", "queue", "next_fire", "last_run", "recent_runs"]
    list_filter = [StateFilter, "connection", "queue", "handler"]
    search_fields = ["name", "description", "connection__name"]
    actions = ["run_now", "pause", "resume", "resume_and_run", "enable_schedules", "disable_schedules"]
    readonly_fields = [
        "destination_guide",
        *("state", "pause_reason", "paused_by", "paused_at", "paused_until"),
        *("error_level", "consecutive_failures", "checkpoint", "checkpoint_at", "fence"),
    ]
    fieldsets = [
        (None, {"fields": ["name", "description", "connection", "handler", "config"]}),
        ("Loading", {"fields": ["batch_size", "queue"]}),
        ("Destination", {"fields": ["destination", "destination_guide"]}),
        (
            "Errors and notifications",
            {"fields": ["pause_durations", "max_failures", "max_duration", "notify_emails"]},
        ),
        ("State (written by the engine)", {"fields": [*readonly_fields[1:]], "classes": ["collapse"]}),
    ]

    @admin.display(description="models and fields")
    def destination_guide(self, obj: SyncClient | None) -> SafeString:
        """The choices a destination may use: models, and the chosen model's fields."""
        label = (obj.destination or {}).get("model") if obj is not None else None
        fields = field_choices(label) if isinstance(label, str) else []
        if fields:
            items = format_html_join("", "<li><code>{}</code> {}</li>", fields)
            return format_html('<p>Fields of {}:</p><ul id="destination-fields">{}</ul>', label, items)
        models = format_html_join(", ", "<code>{}</code>", ((m,) for m in model_choices()))
        return format_html('<p id="destination-models">Models: {}</p>', models)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SyncClient]:
        qs = client_list_queryset(super().get_queryset(request)).annotate(
            deletions_held=Exists(
                PendingDeletion.objects.filter(client=OuterRef("pk"), state=PendingDeletion.State.WAITING)
            )
        )
        visible = visible_client_ids(request.user)
        return qs if visible is None else qs.filter(pk__in=visible)

    @admin.display(description="state")
    def state_column(self, obj: SyncClient) -> SafeString:
        return list_state_badge(obj)

    @admin.display(description="next fire")
    def next_fire(self, obj: SyncClient) -> SafeString | str:
        now = timezone.now()
        lines = []
        for schedule in getattr(obj, "schedule_list", []):
            when = schedule_next_fire(schedule, now=now)
            text = when.strftime("%d %b %H:%M %Z") if when else "—"
            lines.append((schedule.get_kind_display(), text, schedule.describe()))
        if not lines:
            return "no schedule"
        skipped = (
            "" if obj.may_run else SafeString('<br><span class="sync-reason">skipped while paused</span>')
        )
        return format_html(
            "{}{}",
            SafeString(
                "<br>".join(
                    # kind and time may go on two lines in a narrow list; the time stays whole
                    format_html('<span title="{}">{}: <span class="sync-nowrap">{}</span></span>', d, k, t)
                    for k, t, d in lines
                )
            ),
            skipped,
        )

    @admin.display(description="last run")
    def last_run(self, obj: SyncClient) -> SafeString | str:
        runs = getattr(obj, "recent_runs", [])
        if not runs:
            return "never"
        run = runs[0]
        # Words stay whole in this column (base_site.html: .field-last_run); "24 minutes" is one
        # word to the browser (timesince joins them with a no-break space).
        return format_html(
            '<a href="{}"><span class="sync-dot" style="background:{}"></span>{}</a>, {}',
            run_url(run),
            charts.colour(run.status),
            run_status_label(run.status),
            ago(run.queued_at),
        )

    @admin.display(description="recent runs")
    def recent_runs(self, obj: SyncClient) -> SafeString:
        spark = [
            charts.SparkRun(
                pk=r.pk,
                status=r.status,
                seconds=(r.finished_at - r.started_at).total_seconds()
                if r.finished_at and r.started_at
                else None,
                label=f"#{r.pk} {run_status_label(r.status)} {r.queued_at:%d %b %H:%M}",
            )
            for r in reversed(getattr(obj, "recent_runs", []))
        ]
        return charts.sparkline(spark)

    # --- permissions: model-wide or granted on the client (see syncers.permissions) ---------
    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or may_see_client(request.user)

    def has_view_permission(self, request: HttpRequest, obj: SyncClient | None = None) -> bool:
        return super().has_view_permission(request, obj) or may_see_client(request.user, obj)

    def has_change_permission(self, request: HttpRequest, obj: SyncClient | None = None) -> bool:
        return user_can(request.user, "edit", obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # The select lists, and the form accepts, only connections this user may use.
        if db_field.name == "connection" and (usable := usable_connection_ids(request.user)) is not None:
            kwargs["queryset"] = Connection.objects.filter(pk__in=usable)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_run_permission(self, request: HttpRequest, obj: SyncClient | None = None) -> bool:
        return user_can(request.user, "run", obj)

    def has_pause_permission(self, request: HttpRequest, obj: SyncClient | None = None) -> bool:
        return user_can(request.user, "pause", obj)

    def _check_each(
        self, request: HttpRequest, clients: QuerySet[SyncClient], *actions: str
    ) -> list[SyncClient]:
        selected = list(clients)
        if not all(user_can(request.user, a, c) for c in selected for a in actions):
            raise PermissionDenied
        return selected

    # --- list actions -------------------------------------------------------------------------
    @admin.action(description="Run now", permissions=["run"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[SyncClient]) -> None:
        for client in self._check_each(request, queryset, "run"):
            self.queue_run(request, client)

    @admin.action(description="Pause (asks for a reason)", permissions=["pause"])
    def pause(self, request: HttpRequest, queryset: QuerySet[SyncClient]) -> HttpResponse | None:
        clients = self._check_each(request, queryset, "pause")
        form = PauseForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            self.pause_clients(request, clients, form)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Pause {clients[0].name}"
            if len(clients) == 1
            else f"Pause {counted(len(clients), 'client')}",
            "form": form,
            "adminform": admin_form(form),
            "clients": clients,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return self.render_pause(request, context)

    def render_pause(self, request: HttpRequest, context: dict) -> HttpResponse:
        return TemplateResponse(request, "admin/syncers/syncclient/pause.html", context)

    @admin.action(description="Resume (skip missed runs)", permissions=["pause"])
    def resume(self, request: HttpRequest, queryset: QuerySet[SyncClient]) -> None:
        self.resume_clients(request, self._check_each(request, queryset, "pause"), run_now=False)

    @admin.action(description="Resume and run once now", permissions=["pause"])
    def resume_and_run(self, request: HttpRequest, queryset: QuerySet[SyncClient]) -> None:
        self.resume_clients(request, self._check_each(request, queryset, "pause", "run"), run_now=True)

    @admin.action(description="Enable all their schedules", permissions=["change"])
    def enable_schedules(self, request: HttpRequest, queryset: QuerySet[SyncClient]) -> None:
        self.set_schedules(request, self._check_each(request, queryset, "edit"), enabled=True)

    @admin.action(description="Disable all their schedules", permissions=["change"])
    def disable_schedules(self, request: HttpRequest, queryset: QuerySet[SyncClient]) -> None:
        self.set_schedules(request, self._check_each(request, queryset, "edit"), enabled=False)

    def get_urls(self) -> list[URLPattern]:
        return self.client_urls() + super().get_urls()

    def render_change_form(
        self, request: HttpRequest, context: dict, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        original = context.get("original")
        if original is not None and original.pk:
            context["console"] = client_console(request, original)
            original.deletions_held = context["console"]["deletions_waiting"] is not None
            context["state_badge"] = live_state_badge(original, context["console"]["active_run"])
        return super().render_change_form(request, context, *args, **kwargs)
