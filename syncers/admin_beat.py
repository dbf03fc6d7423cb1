"""django-celery-beat's periodic task admin, aware that a sync schedule owns its task: the
schedule is the source of truth (edited on the client page), so a managed task is read-only
here, and the bulk enable/disable/toggle actions carry their result back to the schedule —
otherwise the client's next save would silently re-publish the old state."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from .models import SyncSchedule
from .static_jobs import PREFIX as STATIC_PREFIX


def _managed(obj: PeriodicTask) -> bool:
    """A schedule's task (change it on its client's page) or a static job's (in the file)."""
    return obj.name.startswith(STATIC_PREFIX) or SyncSchedule.objects.filter(periodic_task=obj).exists()


class ManagedPeriodicTaskAdmin(PeriodicTaskAdmin):
    def has_change_permission(self, request: HttpRequest, obj: PeriodicTask | None = None) -> bool:
        if obj is not None and _managed(obj):
            return False  # view only
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PeriodicTask | None = None) -> bool:
        if obj is not None and _managed(obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        # Bulk delete leaves managed tasks alone (delete the schedule, or the job from the file).
        unmanaged = queryset.filter(sync_schedule__isnull=True).exclude(name__startswith=STATIC_PREFIX)
        super().delete_queryset(request, unmanaged)

    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().enable_tasks(request, queryset)
        _schedules_follow(queryset)

    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().disable_tasks(request, queryset)
        _schedules_follow(queryset)

    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().toggle_tasks(request, queryset)
        _schedules_follow(queryset)


def _schedules_follow(queryset: QuerySet[PeriodicTask]) -> None:
    """Copy each managed task's new enabled flag onto its schedule (no re-publish needed)."""
    tasks = PeriodicTask.objects.filter(pk__in=queryset.values("pk"), sync_schedule__isnull=False)
    for task_id, enabled in tasks.values_list("pk", "enabled"):
        SyncSchedule.objects.filter(periodic_task_id=task_id).update(enabled=enabled)


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, ManagedPeriodicTaskAdmin)
