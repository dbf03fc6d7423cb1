"""Mirror SyncSchedule rows into django-celery-beat: one PeriodicTask per schedule, with the
frozen task name and only the client and schedule ids in its kwargs. A schedule's start and
end are beat's own `start_time` and `expires` (beat holds an entry until its start, disables it
once its end has passed, and a message still queued at the end expires); a run limit is
counted by the worker (syncers.schedules.fires). PeriodicTask.save() bumps beat's change
marker, so edits take effect without restarting beat."""

from __future__ import annotations

import json

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
)

from syncers.models import SyncSchedule
from syncers.models.clients import parse_cron

SCHEDULED_SYNC_TASK = "syncers.scheduled_sync"


def periodic_task_name(schedule: SyncSchedule) -> str:
    return f"sync:{schedule.client.name}:schedule-{schedule.pk}"


@transaction.atomic
def schedule_publish(schedule: SyncSchedule) -> PeriodicTask:
    """Create or update the schedule's PeriodicTask (call after every schedule change).

    An unchanged task is not saved: save() stamps `date_changed`, which is where beat counts an
    interval that has not fired yet from, so saving a client would restart its clocks."""
    task = schedule.periodic_task or PeriodicTask(name=periodic_task_name(schedule))
    wanted = _task_columns(schedule)
    if task.pk is not None and all(getattr(task, col) == value for col, value in wanted.items()):
        return task
    for col, value in wanted.items():
        setattr(task, col, value)
    task.save()
    if schedule.periodic_task_id != task.pk:
        SyncSchedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task
    return task


def _task_columns(schedule: SyncSchedule) -> dict[str, object]:
    """The PeriodicTask columns a schedule decides, as PeriodicTask.save() stores them."""
    columns: dict[str, object] = {
        "name": periodic_task_name(schedule),
        "task": SCHEDULED_SYNC_TASK,
        "kwargs": json.dumps({"client_id": schedule.client_id, "schedule_id": schedule.pk}),
        "args": "[]",
        "queue": schedule.client.queue or None,  # save() stores "" as None
        "enabled": schedule.enabled and not schedule_finished(schedule),
        "start_time": schedule.start if schedule.kind == SyncSchedule.Kind.INTERVAL else None,
        "expires": schedule.end if schedule.kind != SyncSchedule.Kind.ONCE else None,
        "description": f"{schedule.describe()} — managed by xcoresite; edit the sync client instead.",
        "crontab_id": None,
        "interval_id": None,
        "clocked_id": None,
        "one_off": False,
    }
    if schedule.kind == SyncSchedule.Kind.CRON:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            timezone=schedule.timezone, **parse_cron(schedule.cron)
        )
        columns["crontab_id"] = crontab.pk
    elif schedule.kind == SyncSchedule.Kind.INTERVAL:
        interval, _ = IntervalSchedule.objects.get_or_create(every=schedule.every, period=schedule.period)
        columns["interval_id"] = interval.pk
    else:
        clocked, _ = ClockedSchedule.objects.get_or_create(clocked_time=schedule.run_at)
        columns |= {"clocked_id": clocked.pk, "one_off": True}
    return columns


def schedule_finished(schedule: SyncSchedule) -> bool:
    """Its end has passed or its runs are used up: it fires no more whatever `enabled` says."""
    if schedule.end is not None and schedule.end <= timezone.now():
        return True
    return schedule.max_runs is not None and schedule.runs_fired >= schedule.max_runs


def schedule_unpublish(schedule: SyncSchedule) -> None:
    if schedule.periodic_task_id:
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).delete()
