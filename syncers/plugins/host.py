"""Runs plugin code in this process: loads each plugin once (on_load), and executes actions,
jobs and worker tasks inside a run scope that records a PluginRun (status, result, error)
and flushes permission denials to the audit log whatever the transaction did."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from syncers.models.plugins import PluginRun

from .base import Plugin, job_method_problem
from .config import plugin_row
from .context import PluginContext
from .errors import PluginDisabled, PluginError, PluginPermissionDenied
from .grants import current_run, flush_denials
from .registry import plugin_class, task_spec

log = logging.getLogger(__name__)
_loaded: dict[str, Plugin] = {}
_load_lock = threading.RLock()


def instance(name: str) -> Plugin:
    """The plugin's instance in this process, loaded (on_load) on first use. Disabled
    plugins refuse: PluginDisabled."""
    if not plugin_row(name).enabled:
        raise PluginDisabled(name)
    with _load_lock:
        plugin = _loaded.get(name)
        if plugin is None:
            plugin = plugin_class(name)()
            plugin.ctx = PluginContext(name, load=instance)
            plugin.on_load(plugin.ctx)
            _loaded[name] = plugin
            log.info("plugin %s %s loaded", name, plugin.manifest.version)
    return plugin


def loaded_names() -> list[str]:
    return sorted(_loaded)


def forget(name: str | None = None) -> None:
    """Drop loaded instances (tests; after a config that on_load reads has changed)."""
    with _load_lock:
        if name is None:
            _loaded.clear()
        else:
            _loaded.pop(name, None)


@contextmanager
def run_scope(run: PluginRun) -> Iterator[bool]:
    """Claim `run` (queued, or running after a dead attempt) and yield True, then mark it
    succeeded, failed or denied (re-raising). Yields False when it has already ended."""
    claimed = PluginRun.objects.filter(
        pk=run.pk, status__in=[PluginRun.Status.QUEUED, PluginRun.Status.RUNNING]
    ).update(status=PluginRun.Status.RUNNING, started_at=timezone.now(), attempts=run.attempts + 1)
    token = current_run.set(run.pk)
    try:
        yield bool(claimed)
    except PluginPermissionDenied as exc:
        _finish(run, PluginRun.Status.DENIED, error=str(exc))
        raise
    except Exception as exc:
        _finish(run, PluginRun.Status.FAILED, error=_error_text(exc))
        raise
    finally:
        current_run.reset(token)
        flush_denials()


def _finish(run: PluginRun, status: str, *, result: Any = None, error: str = "") -> None:
    run.status, run.result, run.error, run.finished_at = status, result, error, timezone.now()
    run.save(update_fields=["status", "result", "error", "finished_at"])


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, PluginError):
        return str(exc)
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _checked_result(name: str, what: str, result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    if not isinstance(result, dict):
        raise PluginError(f"plugin {name}: {what} returned {type(result).__name__}, not a dict")
    return result


def call_action(name: str, action: str, payload: dict[str, Any], *, who: str = "") -> tuple[PluginRun, dict]:
    """Run `handle(action, payload)`; the PluginRun records it (the result as JSON)."""
    plugin = instance(name)
    run = PluginRun.objects.create(
        plugin=name, kind=PluginRun.Kind.ACTION, name=action[:200], payload=payload, requested_by=who[:150]
    )
    with run_scope(run):
        result = _checked_result(name, f"action {action}", plugin.handle(action, payload))
        _finish(run, PluginRun.Status.SUCCEEDED, result=result)
    return run, result


def run_job(
    name: str, job: str, call: str, *, kwargs: dict[str, Any] | None = None, once_at: str | None = None
) -> dict[str, Any] | None:
    """A scheduled job firing (from beat, through the plugins.run_job task), with the
    arguments stored in the job. A one-shot job (`once_at`) is first claimed by deleting its
    row: None when another message already claimed it (a second beat, a re-sent message)."""
    plugin = instance(name)
    kwargs = kwargs or {}
    with transaction.atomic():
        if once_at is not None and not _claim_one_shot(name, job, once_at):
            log.warning("plugin %s: one-shot job %s for %s already fired; not run again", name, job, once_at)
            return None
        run = PluginRun.objects.create(
            plugin=name, kind=PluginRun.Kind.JOB, name=job[:200], payload=kwargs, requested_by="schedule"
        )
    with run_scope(run):
        # The call comes from a PeriodicTask's kwargs, which beat's admin can edit: only a
        # job method of this plugin runs.
        if problem := job_method_problem(type(plugin), call):
            raise PluginError(f"job {job} of plugin {name} refused: {problem}")
        method: Callable[..., Any] = getattr(plugin, call)
        result = _checked_result(name, f"job {job}", method(**kwargs))
        _finish(run, PluginRun.Status.SUCCEEDED, result=result)
    return result


def _claim_one_shot(name: str, job: str, once_at: str) -> bool:
    """Delete the one-shot's row if it is still the one armed for `once_at`: exactly one
    message wins. A job re-armed for another time is a different firing and stays."""
    task = PeriodicTask.objects.filter(name=f"plugin:{name}:{job}", one_off=True).select_related("clocked")
    task = task.select_for_update(of=("self",)).first()
    if task is None or task.clocked is None:
        return False
    if task.clocked.clocked_time != datetime.fromisoformat(once_at):
        return False
    task.delete()  # through the model: beat's change marker moves, beat drops the entry
    return True


def run_task(task_name: str, run_id: int) -> str:
    """Execute a recorded plugin task once: a re-delivered message of a finished run is a
    no-op. Atomic tasks commit their writes together with the "succeeded" mark, and the
    row lock makes a concurrent duplicate wait, then find it done."""
    spec = task_spec(task_name)
    run = PluginRun.objects.filter(pk=run_id, name=task_name, kind=PluginRun.Kind.TASK).first()
    if run is None:
        return "no such run"
    try:
        method = getattr(instance(spec.plugin), spec.method)
    except PluginDisabled as exc:  # ended, so the reconciler does not re-send it forever
        _finish(run, PluginRun.Status.FAILED, error=str(exc))
        return "plugin disabled"
    with run_scope(run) as claimed:
        if not claimed:
            return "already ended"
        if not spec.atomic:
            result = _checked_result(spec.plugin, task_name, method(**run.payload))
            _finish(run, PluginRun.Status.SUCCEEDED, result=result)
            return "succeeded"
        with transaction.atomic():
            locked = PluginRun.objects.select_for_update().get(pk=run_id)
            if locked.status != PluginRun.Status.RUNNING:
                return "already ended"
            result = _checked_result(spec.plugin, task_name, method(**run.payload))
            _finish(run, PluginRun.Status.SUCCEEDED, result=result)
    return "succeeded"
