"""The worker service: send a plugin task by name to a queue and read its result.

The kwargs wait in a PluginRun row and the message carries only that row's id (after
commit), so a lost message is re-sent by the reconciler and never loses data. There is no
Celery result backend: the task stores its result on the same row and `result`/`wait`
poll it. Checked against `service:worker` (execute); a task of another plugin also needs
`plugin:<owner>` (execute). An unreachable broker raises WorkerUnavailable at once
(no retry loop), leaving the row queued for the reconciler."""

from __future__ import annotations

import json
import logging
import time
from functools import partial
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from syncers.models.plugins import PluginRun
from syncers.plugins.errors import PluginError, WorkerUnavailable
from syncers.plugins.grants import require
from syncers.plugins.registry import task_spec

log = logging.getLogger(__name__)
RESOURCE = "service:worker"
FINAL = (PluginRun.Status.SUCCEEDED, PluginRun.Status.FAILED, PluginRun.Status.DENIED)


class WorkerService:
    def __init__(self, plugin: str) -> None:
        self.plugin = plugin

    def send(self, task_name: str, kwargs: dict[str, Any] | None = None, *, queue: str | None = None) -> int:
        """Record the task and send its id once the current transaction commits; returns
        the run id to pass to `result` / `wait`."""
        require(self.plugin, RESOURCE, "execute")
        spec = task_spec(task_name)
        if spec.plugin != self.plugin:
            require(self.plugin, f"plugin:{spec.plugin}", "execute")
        kwargs = dict(kwargs or {})
        try:
            json.dumps(kwargs)
        except (TypeError, ValueError) as exc:
            raise PluginError(f"task {task_name}: kwargs must be JSON ({exc})") from None
        run = PluginRun.objects.create(
            plugin=spec.plugin,
            kind=PluginRun.Kind.TASK,
            name=task_name,
            payload=kwargs,
            queue=queue or settings.SYNC_DEFAULT_QUEUE,
            requested_by=f"plugin:{self.plugin}",
        )
        transaction.on_commit(partial(dispatch, run.pk, task_name, run.queue))
        return run.pk

    def result(self, run_id: int) -> dict[str, Any]:
        """{"id", "status", "result", "error"} of a task this plugin sent."""
        require(self.plugin, RESOURCE, "execute")
        row = (
            PluginRun.objects.filter(
                pk=run_id, kind=PluginRun.Kind.TASK, requested_by=f"plugin:{self.plugin}"
            )
            .values("id", "status", "result", "error")
            .first()
        )
        if row is None:
            raise PluginError(f"no task #{run_id} sent by plugin {self.plugin}")
        return dict(row)

    def wait(self, run_id: int, timeout: float = 60.0, interval: float = 0.2) -> dict[str, Any]:
        """Poll until the task has finished; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.result(run_id)
            if row["status"] in FINAL:
                return row
            if time.monotonic() > deadline:
                raise TimeoutError(f"task #{run_id} not finished after {timeout}s (status {row['status']})")
            time.sleep(interval)


def dispatch(run_id: int, task_name: str, queue: str) -> None:
    """Send the message for a recorded task run (also used by the reconciler)."""
    try:
        # retry=False: an unreachable broker is an error now, not a worker stuck retrying.
        current_app.send_task(task_name, args=[run_id], queue=queue, retry=False)
    except (OperationalError, OSError) as exc:
        log.error("plugin task #%s %s not sent: broker unreachable (%s)", run_id, task_name, exc)
        raise WorkerUnavailable(
            f"task {task_name} (#{run_id}) recorded but not sent: the broker cannot be reached ({exc})"
        ) from exc
    PluginRun.objects.filter(pk=run_id).update(dispatched_at=timezone.now())
