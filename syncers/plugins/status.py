"""Plugin health as plain data, for `sync_status` and dashboards: the worker service is
"degraded" while plugin tasks wait unsent (the broker refused them) for longer than the
reconciler's re-send delay. Read from the database, so every process sees the same state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from syncers.models.plugins import InstalledPlugin, PluginPermission, PluginRun
from syncers.plugins.services.scheduler import describe_jobs


def worker_service_state(*, older_than: float | None = None) -> dict[str, Any]:
    wait = settings.SYNC_REDISPATCH_AFTER if older_than is None else older_than
    unsent = PluginRun.objects.filter(
        kind=PluginRun.Kind.TASK,
        status=PluginRun.Status.QUEUED,
        dispatched_at__isnull=True,
        created_at__lte=timezone.now() - timedelta(seconds=wait),
    )
    oldest = unsent.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "state": "degraded" if oldest else "ok",
        "unsent_tasks": unsent.count(),
        "oldest_unsent": oldest.isoformat() if oldest else None,
    }


def plugins_status() -> list[dict[str, Any]]:
    """Each plugin: version, enabled, granted/requested counts, last start and error."""
    rows = []
    for plugin in InstalledPlugin.objects.prefetch_related("permissions"):
        states = [p.state for p in plugin.permissions.all()]
        rows.append(
            {
                "plugin": plugin.name,
                "version": plugin.version,
                "enabled": plugin.enabled,
                "installed": plugin.installed,
                "granted": states.count(PluginPermission.State.GRANTED),
                "requested": states.count(PluginPermission.State.REQUESTED),
                "started_at": plugin.started_at.isoformat() if plugin.started_at else None,
                "last_error": plugin.last_error,
            }
        )
    return rows


def plugins_overview() -> list[dict[str, Any]]:
    """Each plugin as the admin's plugin page shows it: state, config, every permission
    with its decision (who, when) and its jobs (what `ctx.scheduler.jobs()` lists)."""
    rows = []
    for plugin in InstalledPlugin.objects.prefetch_related("permissions").order_by("name"):
        rows.append(
            {
                "plugin": plugin.name,
                "version": plugin.version,
                "mode": plugin.mode,
                "enabled": plugin.enabled,
                "installed": plugin.installed,
                "actions": plugin.actions,
                "config": plugin.config,
                "started_at": plugin.started_at.isoformat() if plugin.started_at else None,
                "stopped_at": plugin.stopped_at.isoformat() if plugin.stopped_at else None,
                "last_error": plugin.last_error,
                "permissions": [
                    {
                        "resource": p.resource,
                        "actions": p.actions,
                        "state": p.state,
                        "from_manifest": p.from_manifest,
                        "decided_by": p.decided_by,
                        "decided_at": p.decided_at.isoformat() if p.decided_at else None,
                    }
                    for p in sorted(plugin.permissions.all(), key=lambda p: p.resource)
                ],
                "jobs": describe_jobs(plugin.name),
            }
        )
    return rows
