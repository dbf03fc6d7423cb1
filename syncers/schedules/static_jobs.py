"""Static jobs: global jobs declared in the configuration file (`jobs:`), each one managed
django-celery-beat PeriodicTask named `job:<id>` running the frozen task `syncers.static_job`
with the job id, the registered callable's name and its JSON kwargs. The worker looks the name
up in syncers.schedules.job_registry (never an import path). Triggers: interval, cron, or a date (a
clocked one-off: beat sends it once and disables it; the worker claims the firing by stamping
the task's `expires` with its date, so a second beat's copy runs nothing and the next apply
of the same file does not arm it again)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask

from syncers.models.clients import parse_cron
from syncers.schedules.job_registry import get_job

log = logging.getLogger(__name__)

STATIC_JOB_TASK = "syncers.static_job"
PREFIX = "job:"
MANAGED = "managed by configuration (sync_apply); change the file, not this task"


@dataclass(frozen=True)
class StaticJob:
    """One `jobs:` entry, validated (see config_as_code.jobs)."""

    job_id: str
    func: str
    trigger: str  # interval | cron | date
    every: int | None = None
    period: str = ""
    cron: str = ""
    timezone: str = "UTC"
    run_date: datetime | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True


def static_job_tasks() -> QuerySet[PeriodicTask]:
    return PeriodicTask.objects.filter(name__startswith=PREFIX)


def static_job_publish(job: StaticJob) -> str | None:
    """Create or update the job's PeriodicTask; returns what changed ('added', 'changed') or
    None. An unchanged task is not saved (save() restarts an interval's clock)."""
    name = PREFIX + job.job_id
    with transaction.atomic():
        task = PeriodicTask.objects.select_for_update().filter(name=name).first()
        wanted = _columns(job)
        if task is not None and _fired(task, wanted):
            # Its date has fired: the same date in the file again is not a new firing.
            wanted = {k: v for k, v in wanted.items() if k not in ("enabled", "expires")}
        if task is not None and all(getattr(task, col) == value for col, value in wanted.items()):
            return None
        verb = "changed" if task is not None else "added"
        task = task or PeriodicTask(name=name)
        for col, value in wanted.items():
            setattr(task, col, value)
        task.save()  # bumps beat's change marker
    return verb


def _fired(task: PeriodicTask, wanted: dict[str, Any]) -> bool:
    return task.one_off and task.expires is not None and task.clocked_id == wanted["clocked_id"]


def _columns(job: StaticJob) -> dict[str, Any]:
    message: dict[str, Any] = {"job": job.job_id, "func": job.func}
    if job.kwargs:
        message["kwargs"] = job.kwargs
    columns: dict[str, Any] = {
        "task": STATIC_JOB_TASK,
        "args": "[]",
        "queue": settings.CELERY_TASK_DEFAULT_QUEUE,
        "enabled": job.enabled,
        "expires": None,
        "one_off": False,
        "interval_id": None,
        "crontab_id": None,
        "clocked_id": None,
        "description": f"Static job {job.job_id} ({job.func}) — {MANAGED}.",
    }
    if job.trigger == "interval":
        columns["interval_id"] = IntervalSchedule.objects.get_or_create(every=job.every, period=job.period)[
            0
        ].pk
    elif job.trigger == "cron":
        crontab = CrontabSchedule.objects.get_or_create(timezone=job.timezone, **parse_cron(job.cron))[0]
        columns["crontab_id"] = crontab.pk
    else:
        columns["clocked_id"] = ClockedSchedule.objects.get_or_create(clocked_time=job.run_date)[0].pk
        columns["one_off"] = True
        assert job.run_date is not None  # config_as_code.jobs requires it for a date job
        message["once_at"] = job.run_date.isoformat()
    columns["kwargs"] = json.dumps(message, sort_keys=True)
    return columns


def static_job_prune(keep: set[str]) -> list[str]:
    """Delete the managed jobs whose ids are not in `keep`; returns the ids deleted."""
    gone = [
        t.name.removeprefix(PREFIX) for t in static_job_tasks() if t.name.removeprefix(PREFIX) not in keep
    ]
    static_job_tasks().filter(name__in=[PREFIX + g for g in gone]).delete()
    return sorted(gone)


def static_job_run(
    *, job: str, func: str, kwargs: dict[str, Any] | None = None, once_at: str | None = None
) -> Any:
    """A static job firing (from beat, through the syncers.static_job task): call the
    registered callable `func` with `kwargs`. A date job is first claimed: None when another
    message already ran it."""
    if once_at is not None and not _claim(job, once_at):
        log.warning("static job %s for %s already fired; not run again", job, once_at)
        return None
    call = get_job(func)  # UnknownJob when the code no longer registers it: the task fails, logged
    log.info("static job %s: running %s", job, func)
    return call(**(kwargs or {}))


def _claim(job: str, once_at: str) -> bool:
    when = datetime.fromisoformat(once_at)
    armed = PeriodicTask.objects.filter(
        name=PREFIX + job, one_off=True, clocked__clocked_time=when, expires__isnull=True
    )
    return armed.update(expires=when) == 1


def describe_static_job(task: PeriodicTask) -> dict[str, Any]:
    """A managed job as the admin and sync_export show it."""
    message = json.loads(task.kwargs or "{}")
    item: dict[str, Any] = {"id": task.name.removeprefix(PREFIX), "func": message.get("func", "")}
    if task.interval_id:
        item |= {"trigger": "interval", task.interval.period: task.interval.every}
    elif task.crontab_id:
        c = task.crontab
        cron = f"{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}"
        item |= {"trigger": "cron", "cron": cron, "timezone": str(c.timezone)}
    elif task.clocked_id:
        item |= {"trigger": "date", "run_date": task.clocked.clocked_time.isoformat()}
    if message.get("kwargs"):
        item["kwargs"] = message["kwargs"]
    if not task.enabled and not (task.one_off and task.expires is not None):
        item["enabled"] = False
    return item
