"""Mirror SyncSchedule rows into django-celery-beat: one PeriodicTask per schedule, with the
frozen task name and only the client id in its kwargs. PeriodicTask.save() bumps beat's
change marker, so edits take effect without restarting beat."""

from __future__ import annotations

import json

from django.db import transaction
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
)

from .models import SyncSchedule
from .models.clients import parse_cron

SCHEDULED_SYNC_TASK = "syncers.scheduled_sync"


def periodic_task_name(schedule: SyncSchedule) -> str:
    return f"sync:{schedule.client.name}:schedule-{schedule.pk}"


@transaction.atomic
def schedule_publish(schedule: SyncSchedule) -> PeriodicTask:
    """Create or update the schedule's PeriodicTask (call after every schedule change)."""
    task = schedule.periodic_task or PeriodicTask(name=periodic_task_name(schedule))
    task.name = periodic_task_name(schedule)
    task.task = SCHEDULED_SYNC_TASK
    task.kwargs = json.dumps({"client_id": schedule.client_id})
    task.args = "[]"
    task.queue = schedule.client.queue
    task.enabled = schedule.enabled
    task.description = f"{schedule.describe()} — managed by xcoresite; edit the sync client instead."
    task.crontab = task.interval = task.clocked = None
    task.one_off = False
    if schedule.kind == SyncSchedule.Kind.CRON:
        task.crontab, _ = CrontabSchedule.objects.get_or_create(
            timezone=schedule.timezone, **parse_cron(schedule.cron)
        )
    elif schedule.kind == SyncSchedule.Kind.INTERVAL:
        task.interval, _ = IntervalSchedule.objects.get_or_create(
            every=schedule.every, period=schedule.period
        )
    else:
        task.clocked, _ = ClockedSchedule.objects.get_or_create(clocked_time=schedule.run_at)
        task.one_off = True
    task.save()
    if schedule.periodic_task_id != task.pk:
        SyncSchedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task
    return task


def schedule_unpublish(schedule: SyncSchedule) -> None:
    if schedule.periodic_task_id:
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).delete()
