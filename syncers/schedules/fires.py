"""Counting the fires of a schedule with a run limit (`max_runs`), in the worker.

Beat's own `total_run_count` cannot do it: it is written in batches (a crash loses the last
seconds of it) and two beats each count their own sends. So each fire is counted here, under
the schedule row's lock, before the run starts - the same place the one-shot protections of
fault 6 decide (the worker claims, whatever beat sent). The count is exact however many beats
and workers race; the fire that reaches the limit disables the schedule, exactly once (its
save reaches beat through the change marker, as any edit does); any message still on its way
finds the limit reached and runs nothing. A second beat sends the same occurrence within a
fraction of the interval: a fire less than half an interval after the last counted one is
that duplicate and is not run."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from syncers.models import SyncSchedule
from syncers.wording import counted

log = logging.getLogger(__name__)


def schedule_fire_claim(*, schedule_id: int | None, now: datetime | None = None) -> bool:
    """Whether a fire beat sent for this schedule may run (and, with a limit, count it).

    False when the schedule has ended, its runs are used up, or the fire duplicates the last
    counted one. A schedule without bounds (or deleted meanwhile, or an old message without a
    schedule id) always runs, as before."""
    if schedule_id is None:
        return True
    now = now or timezone.now()
    bounded = SyncSchedule.objects.filter(pk=schedule_id).values("end", "max_runs").first()
    if bounded is None:
        return True
    if bounded["end"] is not None and now >= bounded["end"]:
        log.warning("schedule %s fired after its end (%s); not run", schedule_id, bounded["end"])
        return False
    if bounded["max_runs"] is None:
        return True
    with transaction.atomic():
        schedule = SyncSchedule.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            return True
        return _count(schedule, now)


def _count(schedule: SyncSchedule, now: datetime) -> bool:
    if schedule.max_runs is None:
        return True
    if schedule.runs_fired >= schedule.max_runs or not schedule.enabled:
        log.warning(
            "schedule %s: its %s used up; not run", schedule.pk, counted(schedule.max_runs or 0, "run")
        )
        return False
    half = timedelta(**{schedule.period: schedule.every or 0}) / 2
    if schedule.last_fired_at is not None and now - schedule.last_fired_at < half:
        log.warning(
            "schedule %s: a second send of the fire at %s; not run", schedule.pk, schedule.last_fired_at
        )
        return False
    schedule.runs_fired += 1
    schedule.last_fired_at = now
    fields = ["runs_fired", "last_fired_at"]
    if schedule.runs_fired >= schedule.max_runs:
        schedule.enabled = False
        fields.append("enabled")
        log.info(
            "schedule %s: run %s of %s, now disabled", schedule.pk, schedule.runs_fired, schedule.max_runs
        )
    schedule.save(update_fields=fields)  # post_save publishes it: beat drops a disabled entry
    return True
