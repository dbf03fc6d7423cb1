"""Operator verbs on plugins, shared by the admin, `plugin_call` and worker signals:
call an action, start/stop, grant/refuse, configure, and re-send lost task messages."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from syncers.models.plugins import InstalledPlugin, PluginPermission, PluginRun

from . import host
from .config import plugin_row, record_manifests
from .errors import WAITING_FOR_GRANT, PluginError, PluginPermissionDenied, WorkerUnavailable, waiting_text
from .grants import audit, flush_denials
from .manifest import validate_grant
from .registry import plugin_names
from .services.scheduler import JOB_ID, describe_job, plugin_periodic_tasks
from .services.worker import dispatch
from .validation import validate_plugin_config

log = logging.getLogger(__name__)
RECONCILE_TASK = "plugins.reconcile"
RECONCILE_JOB = "plugins:reconcile"


def plugin_call(*, name: str, action: str, payload: dict[str, Any], who: str = "") -> dict[str, Any]:
    """Call a plugin's action; its JSON result, or a PluginError (unknown, denied...)."""
    if not isinstance(payload, dict):
        raise PluginError("the payload must be a JSON object")
    _run, result = host.call_action(name, action, payload, who=who)
    return result


def plugin_start(*, name: str, who: str = "") -> None:
    """Load the plugin here and run its on_start (idempotent: jobs are replaced by id)."""
    plugin = host.instance(name)
    try:
        plugin.on_start(plugin.ctx)
    except PluginPermissionDenied as exc:  # a fresh install: an operator has not granted it yet
        InstalledPlugin.objects.filter(name=name).update(last_error=waiting_text(exc)[:2000])
        raise
    except Exception as exc:
        InstalledPlugin.objects.filter(name=name).update(last_error=f"start: {exc}"[:2000])
        raise
    finally:
        flush_denials()
    InstalledPlugin.objects.filter(name=name).update(started_at=timezone.now(), last_error="")
    audit(name, "started", actor=who)


def plugin_stop(*, name: str, who: str = "") -> None:
    """Run the plugin's on_stop (if it is enabled and started: a disabled plugin, or one still
    waiting for a grant, is not running)."""
    row = plugin_row(name)
    if not row.enabled or row.last_error.startswith(WAITING_FOR_GRANT):
        return
    plugin = host.instance(name)
    try:
        plugin.on_stop(plugin.ctx)
    except Exception as exc:
        InstalledPlugin.objects.filter(name=name).update(last_error=f"stop: {exc}"[:2000])
        raise
    InstalledPlugin.objects.filter(name=name).update(stopped_at=timezone.now())
    audit(name, "stopped", actor=who)


def plugin_set_enabled(*, name: str, enabled: bool, who: str) -> None:
    """Enable, or disable: calls and tasks are refused and its jobs paused (through save())."""
    InstalledPlugin.objects.filter(name=name).update(enabled=enabled)
    if not enabled:
        _pause_jobs(name)
    audit(name, "enabled" if enabled else "disabled", actor=who)


def plugin_job_set_enabled(*, name: str, job_id: str, enabled: bool, who: str) -> dict[str, Any]:
    """An operator pauses or resumes one of a plugin's jobs (what the plugin's own
    `ctx.scheduler.pause_job` / `resume_job` do, without its grant: the operator decides)."""
    task = _job_task(name, job_id)
    task.enabled = enabled
    task.save()  # not .update(): save() bumps beat's change marker
    audit(name, "job resumed" if enabled else "job paused", actor=who, resource=task.name)
    return describe_job(task, name)


def plugin_job_remove(*, name: str, job_id: str, who: str) -> None:
    """An operator removes one of a plugin's jobs (`ctx.scheduler.remove_job`); a job the
    plugin declares with @cron / @interval comes back at its next start."""
    task = _job_task(name, job_id)
    task.delete()
    audit(name, "job removed", actor=who, resource=task.name)


class UnknownJob(PluginError):
    """The plugin has no job of that id."""


def _job_task(name: str, job_id: str) -> PeriodicTask:
    plugin_row(name)  # an unknown plugin is refused by name
    valid_id = isinstance(job_id, str) and JOB_ID.fullmatch(job_id)
    task = plugin_periodic_tasks(name).filter(name=f"plugin:{name}:{job_id}").first() if valid_id else None
    if task is None:
        known = [t.name.removeprefix(f"plugin:{name}:") for t in plugin_periodic_tasks(name).order_by("name")]
        raise UnknownJob(f"plugin {name} has no job {job_id[:100]!r} (it has: {', '.join(known) or 'none'})")
    return task


def _pause_jobs(name: str) -> int:
    paused = 0
    for task in plugin_periodic_tasks(name).filter(enabled=True):
        task.enabled = False
        task.save()  # not .update(): save() bumps beat's change marker
        paused += 1
    return paused


def _stop_after_refusal(name: str, resource: str) -> None:
    """A refused grant stops the plugin's scheduled work at once, instead of letting jobs
    fire and queued runs start until their bodies hit a grant check."""
    _pause_jobs(name)
    PluginRun.objects.filter(plugin=name, status=PluginRun.Status.QUEUED).update(
        status=PluginRun.Status.FAILED,
        error=f"not run: permission on {resource} was refused",
        finished_at=timezone.now(),
    )


def plugin_configure(*, name: str, config: Any, who: str) -> InstalledPlugin:
    """Validate against the plugin's schema (ValidationError at `config`) and save."""
    row = plugin_row(name)
    row.config = validate_plugin_config(name, config)
    row.save(update_fields=["config"])
    audit(name, "configured", actor=who, detail=json.dumps(row.config)[:2000])
    return row


def permission_decide(*, permission: PluginPermission, grant: bool, who: str) -> PluginPermission:
    """Grant or refuse a permission row (a restricted plugin's wildcard cannot be granted)."""
    state = PluginPermission.State.GRANTED if grant else PluginPermission.State.REFUSED
    validate_grant(permission.resource, permission.actions, mode=permission.plugin.mode, state=state)
    permission.state, permission.decided_by, permission.decided_at = state, who[:150], timezone.now()
    permission.save(update_fields=["state", "decided_by", "decided_at"])
    if not grant:
        _stop_after_refusal(permission.plugin.name, permission.resource)
    audit(
        permission.plugin.name,
        state,
        actor=who,
        resource=permission.resource,
        detail=f"{state} {permission.actions} on {permission.resource}",
    )
    return permission


def plugins_start_all() -> None:
    """Worker start: record manifests, start every enabled plugin (one failing plugin does
    not stop the others or the worker), make sure the reconcile job exists."""
    try:
        record_manifests()
        _ensure_reconcile_job()
        for name in plugin_names():
            if not plugin_row(name).enabled:
                continue
            try:
                plugin_start(name=name, who="worker start")
            except PluginPermissionDenied as exc:
                log.info("plugin %s not started: %s", name, waiting_text(exc))
            except Exception as exc:
                log.error("plugin %s did not start: %s", name, exc)
    except Exception:
        log.exception("plugins not started (is the database migrated?)")
    finally:
        connections.close_all()  # this runs in the worker's main process; children have their own


def plugins_stop_all() -> None:
    """Worker shutdown: on_stop of every plugin this process loaded."""
    for name in host.loaded_names():
        try:
            plugin_stop(name=name, who="worker shutdown")
        except Exception as exc:
            log.error("plugin %s did not stop cleanly: %s", name, exc)


def _ensure_reconcile_job() -> None:
    every = max(1, int(settings.SYNC_RECONCILE_EVERY))
    with transaction.atomic():
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
        task = PeriodicTask.objects.select_for_update().filter(name=RECONCILE_JOB).first()
        if task is None or task.interval_id != interval.pk or not task.enabled:
            task = task or PeriodicTask(name=RECONCILE_JOB, task=RECONCILE_TASK)
            task.interval, task.enabled = interval, True
            task.queue = settings.CELERY_TASK_DEFAULT_QUEUE
            task.description = "Re-sends plugin task messages a broker or dead worker lost."
            task.save()


def plugin_runs_reconcile() -> dict[str, int]:
    """Re-send plugin tasks whose message may be lost: queued and not sent for
    SYNC_REDISPATCH_AFTER, or running for longer than the task time limit (dead worker)."""
    now = timezone.now()
    quiet = now - timedelta(seconds=settings.SYNC_REDISPATCH_AFTER)
    dead = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    tasks = PluginRun.objects.filter(kind=PluginRun.Kind.TASK)
    stale = tasks.filter(status=PluginRun.Status.QUEUED).exclude(dispatched_at__gt=quiet).exclude(
        created_at__gt=quiet
    ) | tasks.filter(status=PluginRun.Status.RUNNING, started_at__lt=dead)
    sent = failed = 0
    for run in stale.order_by("pk")[:500]:
        try:
            dispatch(run.pk, run.name, run.queue)
            sent += 1
        except WorkerUnavailable:
            failed += 1
            break
    return {"resent": sent, "unsent": failed}
