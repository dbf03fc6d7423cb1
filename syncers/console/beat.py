"""django-celery-beat's periodic task admin, aware of the tasks the product manages:

- `sync:*` tasks belong to a client's schedule (edited on the client page), `plugin:*` and
  `job:*` tasks to a plugin (its manifest and its page). They are read-only here, cannot be
  deleted (one by one or in bulk), and name their owner with a link.
- The bulk enable/disable/toggle actions on a schedule's task carry the result back to the
  schedule (otherwise the client's next save would silently re-publish the old state); a
  plugin's tasks are left alone by them.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from syncers.models import SyncClient, SyncSchedule
from syncers.models.plugins import InstalledPlugin
from syncers.plugins.operations import RECONCILE_JOB
from syncers.schedules.static_jobs import PREFIX as STATIC_PREFIX
from syncers.wording import counted

SYNC_PREFIX = "sync:"
PLUGIN_PREFIXES = ("plugin:",)


def product_entries() -> set[str]:
    """The product's own bookkeeping entries: the engine's reconciler (CELERY_BEAT_SCHEDULE,
    written by beat at each start) and the plugin host's (plugins:reconcile, re-enabled by it).
    Editing or deleting one stops the re-sending of lost messages."""
    return {*settings.CELERY_BEAT_SCHEDULE, RECONCILE_JOB}


def managed(queryset: QuerySet[PeriodicTask]) -> QuerySet[PeriodicTask]:
    """The tasks the product owns: a schedule's, named sync:*, plugin:* or job:* (static jobs),
    or one of its own bookkeeping entries."""
    names = Q(name__startswith=SYNC_PREFIX) | Q(name__in=product_entries())
    for prefix in (*PLUGIN_PREFIXES, STATIC_PREFIX):
        names |= Q(name__startswith=prefix)
    return queryset.filter(names | Q(sync_schedule__isnull=False))


def is_managed(task: PeriodicTask) -> bool:
    return managed(PeriodicTask.objects.filter(pk=task.pk)).exists()


def owner_link(task: PeriodicTask) -> SafeString | str:
    """A link to the client or plugin that owns the task, or "" for an operator's own task."""
    schedule = SyncSchedule.objects.filter(periodic_task=task).select_related("client").first()
    client = schedule.client if schedule else None
    if client is None and task.name.startswith(SYNC_PREFIX):
        client = SyncClient.objects.filter(name=task.name.split(":")[1]).first()
    if client is not None:
        url = reverse("admin:syncers_syncclient_change", args=[client.pk])
        return format_html('sync client <a href="{}">{}</a> (its schedules)', url, client.name)
    if task.name.startswith(STATIC_PREFIX):
        url = reverse("admin:syncers_staticjob_changelist")
        return format_html('configuration (<a href="{}">static jobs</a>, <code>sync_apply</code>)', url)
    if task.name in product_entries():
        return "xcoresite itself (re-sends lost messages)"
    if task.name.startswith(PLUGIN_PREFIXES):
        name = task.name.split(":")[1]
        plugin = InstalledPlugin.objects.filter(name=name).first()
        if plugin is not None:
            url = reverse("admin:syncers_installedplugin_change", args=[plugin.pk])
            return format_html('plugin <a href="{}">{}</a>', url, plugin.name)
        return format_html(
            'plugins (<a href="{}">list</a>)', reverse("admin:syncers_installedplugin_changelist")
        )
    return ""


class ManagedPeriodicTaskAdmin(PeriodicTaskAdmin):
    list_display = (*PeriodicTaskAdmin.list_display, "managed_by")
    readonly_fields = (*PeriodicTaskAdmin.readonly_fields, "managed_by")

    @admin.display(description="managed by")
    def managed_by(self, obj: PeriodicTask) -> SafeString | str:
        return owner_link(obj) or "-"

    def get_fieldsets(self, request: HttpRequest, obj: PeriodicTask | None = None) -> list:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and is_managed(obj):  # the owner first: change the task there
            fieldsets.insert(0, ("Managed by the product", {"fields": ["managed_by"]}))
        return fieldsets

    def has_change_permission(self, request: HttpRequest, obj: PeriodicTask | None = None) -> bool:
        if obj is not None and is_managed(obj):
            return False  # view only: change it on its client's or plugin's page
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PeriodicTask | None = None) -> bool:
        if obj is not None and is_managed(obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        # Bulk delete leaves managed tasks alone (delete the schedule, remove the plugin job or the static job from the file).
        super().delete_queryset(request, queryset.exclude(pk__in=managed(queryset).values("pk")))

    def _unmanaged_or_schedules(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> QuerySet:
        plugin_owned = (
            managed(queryset).filter(sync_schedule__isnull=True).exclude(name__startswith=SYNC_PREFIX)
        )
        if count := plugin_owned.count():
            self.message_user(
                request,
                f"Left {counted(count, 'task')} owned by a plugin or by configuration alone: change them there.",
                messages.WARNING,
            )
        return queryset.exclude(pk__in=plugin_owned.values("pk"))

    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        queryset = self._unmanaged_or_schedules(request, queryset)
        super().enable_tasks(request, queryset)
        _schedules_follow(queryset)

    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        queryset = self._unmanaged_or_schedules(request, queryset)
        super().disable_tasks(request, queryset)
        _schedules_follow(queryset)

    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        queryset = self._unmanaged_or_schedules(request, queryset)
        super().toggle_tasks(request, queryset)
        _schedules_follow(queryset)


def _schedules_follow(queryset: QuerySet[PeriodicTask]) -> None:
    """Copy each managed task's new enabled flag onto its schedule (no re-publish needed)."""
    tasks = PeriodicTask.objects.filter(pk__in=queryset.values("pk"), sync_schedule__isnull=False)
    for task_id, enabled in tasks.values_list("pk", "enabled"):
        SyncSchedule.objects.filter(periodic_task_id=task_id).update(enabled=enabled)


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, ManagedPeriodicTaskAdmin)
