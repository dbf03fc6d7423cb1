"""Celery tasks of plugins: thin, ids only, names frozen (beat stores them as strings).

- `plugins.run_job(plugin, job, call, kwargs=None, once_at=None)`: what a plugin's
  PeriodicTask runs (`once_at`: a one-shot job, claimed once).
- `plugins.reconcile()`: re-sends plugin task messages a broker or a dead worker lost.
- one task per name a plugin declares with @task (e.g. "tasks.sync:process_batch"), taking
  the id of the PluginRun row that holds its kwargs; registered at start-up in every process.
Worker start runs every enabled plugin's on_start, warm shutdown its on_stop.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown

from . import host, operations, registry

RUN_JOB_TASK = "plugins.run_job"


@shared_task(name=RUN_JOB_TASK)
def run_job(
    plugin: str, job: str, call: str, kwargs: dict[str, Any] | None = None, once_at: str | None = None
) -> str:
    if host.run_job(plugin, job, call, kwargs=kwargs or {}, once_at=once_at) is None:
        return "already fired"
    return "done"


@shared_task(name=operations.RECONCILE_TASK)
def reconcile() -> dict[str, int]:
    return operations.plugin_runs_reconcile()


def _runner(task_name: str) -> Any:
    def run(run_id: int) -> str:
        return host.run_task(task_name, run_id)

    run.__name__ = run.__qualname__ = "plugin_task_" + "".join(c if c.isalnum() else "_" for c in task_name)
    return run


_registered: set[str] = set()


def register_plugin_tasks() -> None:
    """Give every task name a plugin declares a Celery task (idempotent)."""
    for name in registry.task_names():
        if name not in _registered:
            shared_task(name=name)(_runner(name))
            _registered.add(name)


@worker_ready.connect(dispatch_uid="syncers.plugins.start")
def _start_plugins(**kwargs: Any) -> None:
    operations.plugins_start_all()
    reconcile.delay()


@worker_shutdown.connect(dispatch_uid="syncers.plugins.stop")
def _stop_plugins(**kwargs: Any) -> None:
    operations.plugins_stop_all()
