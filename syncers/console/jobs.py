"""Static jobs in the admin: a read-only listing of the `job:<id>` beat entries that the
configuration file declares (change them in the file and run sync_apply)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from syncers.models import StaticJob
from syncers.ops.health import next_fire
from syncers.schedules.static_jobs import PREFIX, describe_static_job


@admin.register(StaticJob)
class StaticJobAdmin(admin.ModelAdmin):
    list_display = ("job_id", "callable", "trigger", "enabled", "next_run", "last_run_at", "total_run_count")
    fields = (*list_display, "description")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[StaticJob]:
        qs = super().get_queryset(request).filter(name__startswith=PREFIX)
        return qs.select_related("interval", "crontab", "clocked")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"subtitle": "Managed by configuration: declared under jobs: in the file sync_apply reads."}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    @admin.display(description="id")
    def job_id(self, obj: StaticJob) -> str:
        return obj.name.removeprefix(PREFIX)

    @admin.display(description="callable")
    def callable(self, obj: StaticJob) -> str:
        return describe_static_job(obj)["func"]

    @admin.display(description="trigger")
    def trigger(self, obj: StaticJob) -> str:
        item = describe_static_job(obj)
        detail = {k: v for k, v in item.items() if k not in ("id", "func", "trigger", "kwargs", "enabled")}
        text = f"{item.get('trigger', '?')}: " + ", ".join(f"{k} {v}" for k, v in detail.items())
        return text + (f" with {item['kwargs']}" if item.get("kwargs") else "")

    @admin.display(description="next run")
    def next_run(self, obj: StaticJob) -> str:
        return next_fire(obj) or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("django_celery_beat.view_periodictask")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)
