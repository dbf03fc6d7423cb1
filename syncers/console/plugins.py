"""Plugin admin: what each plugin asks for and is granted (grant/refuse, recorded with who
and when), its config (checked against its schema on save), start/stop/enable/disable, a
"call an action" page, and the read-only run and audit logs.

Imported from SyncersConfig.ready(), which is also the moment plugins are discovered."""

from __future__ import annotations

import json
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from syncers.console.cells import clipped, clipped_column
from syncers.console.forms import admin_form
from syncers.models.plugins import InstalledPlugin, PluginAuditEntry, PluginPermission, PluginRun, SyncLog
from syncers.plugins import PluginError
from syncers.plugins import setup as plugin_setup
from syncers.plugins.errors import last_error_text
from syncers.plugins.grants import audit
from syncers.plugins.operations import (
    permission_decide,
    plugin_call,
    plugin_set_enabled,
    plugin_start,
    plugin_stop,
)
from syncers.plugins.services.scheduler import describe_jobs

plugin_setup.ready()


def _who(request: HttpRequest) -> str:
    return request.user.get_username()


class PermissionInline(admin.TabularInline):
    model = PluginPermission
    extra = 0
    fields = ["resource", "actions", "state", "from_manifest", "decided_by", "decided_at"]
    readonly_fields = ["from_manifest", "decided_by", "decided_at"]


@admin.register(InstalledPlugin)
class InstalledPluginAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "version",
        "mode",
        "enabled",
        "installed",
        "grants",
        "started_at",
        "last_error_cell",
    ]

    @admin.display(description="problem", ordering="last_error")
    def last_error_cell(self, obj: InstalledPlugin) -> SafeString:
        return clipped(last_error_text(obj.last_error))

    list_filter = ["enabled", "mode", "installed"]
    fields = (
        "name", "version", "description", "mode", "actions", "enabled", "config",
        "installed", "discovered_at", "started_at", "stopped_at", "last_error", "jobs",
    )  # fmt: skip
    readonly_fields = [f for f in fields if f not in ("enabled", "config")]
    inlines = [PermissionInline]
    actions = ["start", "stop", "enable", "disable"]
    change_form_template = "admin/syncers/installedplugin/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # plugins are discovered from installed apps, not added here

    def get_queryset(self, request: HttpRequest) -> QuerySet[InstalledPlugin]:
        granted = Count("permissions", filter=Q(permissions__state=PluginPermission.State.GRANTED))
        return super().get_queryset(request).annotate(n_granted=granted, n_perms=Count("permissions"))

    @admin.display(description="granted")
    def grants(self, obj: InstalledPlugin) -> str:
        return f"{obj.n_granted} of {obj.n_perms}"  # type: ignore[attr-defined]  # get_queryset annotates

    @admin.display(description="jobs")
    def jobs(self, obj: InstalledPlugin) -> str:
        """The plugin's jobs in beat, with their arguments (what list_jobs() returns)."""
        rows = describe_jobs(obj.name)
        if not rows:
            return "none"
        return format_html(
            "<table><thead><tr><th>job</th><th>method</th><th>arguments</th><th>schedule</th>"
            "<th>next run</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        j["id"],
                        j["call"],
                        json.dumps(j["kwargs"]) if j["kwargs"] else "-",
                        j["schedule"],
                        j["next_run"] or "paused",
                    )
                    for j in rows
                ),
            ),
        )

    def save_model(self, request: HttpRequest, obj: InstalledPlugin, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if "config" in form.changed_data:
            audit(obj.name, "configured", actor=_who(request), detail=json.dumps(obj.config)[:2000])
        if "enabled" in form.changed_data:
            plugin_set_enabled(name=obj.name, enabled=obj.enabled, who=_who(request))

    def save_formset(self, request: HttpRequest, form: Any, formset: BaseInlineFormSet, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        for inline_form in formset.forms:
            if inline_form.instance.pk and "state" in inline_form.changed_data:
                _record_decision(request, inline_form.instance)

    def _each(self, request: HttpRequest, queryset: QuerySet[InstalledPlugin], verb: str, fn: Any) -> None:
        for plugin in queryset:
            try:
                fn(plugin.name)
                self.message_user(request, f"Plugin {plugin.name}: {verb}.")
            except (PluginError, ValidationError) as exc:
                self.message_user(request, f"Plugin {plugin.name}: {exc}", messages.ERROR)

    @admin.action(description="Start (on_start: registers its jobs)", permissions=["change"])
    def start(self, request: HttpRequest, queryset: QuerySet[InstalledPlugin]) -> None:
        self._each(request, queryset, "started", lambda n: plugin_start(name=n, who=_who(request)))

    @admin.action(description="Stop (on_stop)", permissions=["change"])
    def stop(self, request: HttpRequest, queryset: QuerySet[InstalledPlugin]) -> None:
        self._each(request, queryset, "stopped", lambda n: plugin_stop(name=n, who=_who(request)))

    @admin.action(description="Enable", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[InstalledPlugin]) -> None:
        self._each(
            request,
            queryset,
            "enabled",
            lambda n: plugin_set_enabled(name=n, enabled=True, who=_who(request)),
        )

    @admin.action(description="Disable (refuse calls, pause its jobs)", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[InstalledPlugin]) -> None:
        self._each(
            request,
            queryset,
            "disabled",
            lambda n: plugin_set_enabled(name=n, enabled=False, who=_who(request)),
        )

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.call_view)
        return [path("<int:pk>/call/", view, name="syncers_installedplugin_call"), *super().get_urls()]

    def call_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        plugin = get_object_or_404(InstalledPlugin, pk=pk)
        if not self.has_change_permission(request, plugin):
            raise PermissionDenied
        form = CallForm(request.POST or None, actions=plugin.actions)
        result = None
        if request.method == "POST" and form.is_valid():
            who = _who(request)
            try:
                result = plugin_call(
                    name=plugin.name,
                    action=form.cleaned_data["action"],
                    payload=form.cleaned_data["payload"],
                    who=who,
                )
            except (PluginError, ValidationError) as exc:
                self.message_user(request, str(exc), messages.ERROR)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": plugin,
            "form": form,
            "adminform": admin_form(form),
            "result": json.dumps(result, indent=2, default=str) if result is not None else None,
            "title": f"Call an action of {plugin.name}",
        }
        return TemplateResponse(request, "admin/syncers/installedplugin/call.html", context)


class CallForm(forms.Form):
    fieldsets = [(None, {"fields": ["action", "payload"]})]

    action = forms.ChoiceField(help_text="One of the actions the plugin's manifest offers.")
    payload = forms.JSONField(
        initial=dict,
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60, "class": "vLargeTextField"}),
        help_text='A JSON object passed to handle(), e.g. {"limit": 10}; empty: {}.',
    )

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["action"]).choices = [(a, a) for a in actions]

    def clean_payload(self) -> dict[str, Any]:
        payload = self.cleaned_data.get("payload") or {}
        if not isinstance(payload, dict):
            raise ValidationError("The payload must be a JSON object.")
        return payload


@admin.register(PluginPermission)
class PluginPermissionAdmin(admin.ModelAdmin):
    list_display = ["plugin", "resource", "actions", "state", "from_manifest", "decided_by", "decided_at"]
    list_filter = ["state", "plugin", "from_manifest"]
    readonly_fields = ["from_manifest", "decided_by", "decided_at"]
    actions = ["grant", "refuse"]

    def _decide(self, request: HttpRequest, queryset: QuerySet[PluginPermission], grant: bool) -> None:
        for perm in queryset.select_related("plugin"):
            try:
                permission_decide(permission=perm, grant=grant, who=_who(request))
            except ValidationError as exc:
                self.message_user(request, f"Permission {perm}: {' '.join(exc.messages)}", messages.ERROR)
        self.message_user(request, "Recorded. Services check grants on every call: it applies at once.")

    @admin.action(description="Grant selected permissions", permissions=["change"])
    def grant(self, request: HttpRequest, queryset: QuerySet[PluginPermission]) -> None:
        self._decide(request, queryset, True)

    @admin.action(description="Refuse selected permissions", permissions=["change"])
    def refuse(self, request: HttpRequest, queryset: QuerySet[PluginPermission]) -> None:
        self._decide(request, queryset, False)

    def save_model(self, request: HttpRequest, obj: PluginPermission, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if "state" in form.changed_data:
            _record_decision(request, obj)


def _record_decision(request: HttpRequest, perm: PluginPermission) -> None:
    """A state set to granted or refused in a form is a decision: who, when, audit entry."""
    if perm.state != PluginPermission.State.REQUESTED:
        permission_decide(
            permission=perm, grant=perm.state == PluginPermission.State.GRANTED, who=_who(request)
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PluginRun)
class PluginRunAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "plugin",
        "kind",
        "name_cell",
        "status",
        "requested_by",
        "created_at",
        "finished_at",
        "error_cell",
    ]
    list_filter = ["status", "kind", "plugin"]
    search_fields = ["name", "error"]
    name_cell = clipped_column("name", "name", 40)
    error_cell = clipped_column("error", "error")


@admin.register(PluginAuditEntry)
class PluginAuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "plugin", "event", "resource_cell", "action", "actor", "run", "detail_cell"]
    list_filter = ["event", "plugin"]
    resource_cell = clipped_column("resource", "resource", 40)
    detail_cell = clipped_column("detail", "detail")


@admin.register(SyncLog)
class SyncLogAdmin(ReadOnlyAdmin):
    list_display = ["timestamp", "count", "sync"]
