"""The scheduler service: a plugin's jobs as django-celery-beat PeriodicTasks named
`plugin:<plugin>:<job id>`, running the frozen task `plugins.run_job` with the plugin, the
job id, the method and the job's JSON arguments in their kwargs. Jobs run on a cron
expression, every N periods, or once at a date (a clocked one-off: beat sends it once and
disables it, the worker that runs it deletes the row first, so a second send runs nothing).
Every change goes through `PeriodicTask.save()` (or delete), which bumps beat's change
marker, so beat notices without a restart. Checked against `service:scheduler`: `read` to
list, `write` to add, remove, pause or resume."""

from __future__ import annotations

import inspect
import json
import re
import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.timezone import now as tz_now
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask

from syncers.models.clients import parse_cron
from syncers.plugins.base import JobSpec, Plugin, job_method_problem
from syncers.plugins.errors import JobConflict, PluginError
from syncers.plugins.grants import require
from syncers.plugins.registry import plugin_class, plugin_jobs
from syncers.schedules.beat import interval_due_at

RUN_JOB_TASK = "plugins.run_job"
RESOURCE = "service:scheduler"
JOB_ID = re.compile(r"[A-Za-z0-9_.-]{1,80}")
PERIODS = {p for p, _ in IntervalSchedule.PERIOD_CHOICES}
# Job arguments are stored in plain text in the database and shown on the plugin's page:
# names like these are refused, so a secret is never put there by habit.
_SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|credential|authori[sz]ation|private", re.I
)
MAX_KWARGS_BYTES = 10_000


class SchedulerService:
    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.prefix = f"plugin:{plugin}:"

    def _task_name(self, job_id: str) -> str:
        if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
            raise PluginError(f"job id {job_id!r}: 1-80 letters, digits, '.', '_' or '-'")
        return self.prefix + job_id

    def add_job(
        self,
        job_id: str,
        *,
        call: str,
        cron: str | None = None,
        timezone: str = "UTC",
        every: int | None = None,
        period: str = "seconds",
        run_at: datetime | str | None = None,
        kwargs: dict[str, Any] | None = None,
        queue: str | None = None,
        replace: bool | None = None,
    ) -> dict[str, Any]:
        """Run the plugin's method `call` on a cron expression, every N periods, or once at
        `run_at` (an aware datetime or an ISO 8601 string with its offset), with `kwargs`
        (JSON, stored with the job). A job id that exists is replaced, or raises JobConflict
        (manifest job_conflict="error", or replace=False)."""
        require(self.plugin, RESOURCE, "write")
        name = self._task_name(job_id)
        cls = plugin_class(self.plugin)
        if problem := job_method_problem(cls, call):
            raise PluginError(f"plugin {self.plugin} cannot run {call!r} as job {job_id}: {problem}")
        kwargs = _checked_kwargs(job_id, cls, call, kwargs)
        if sum(x is not None for x in (cron, every, run_at)) != 1:
            raise PluginError(f"job {job_id}: give exactly one of cron, every or run_at")
        if replace is None:
            replace = plugin_class(self.plugin).manifest.job_conflict == "replace"
        with transaction.atomic():
            task = PeriodicTask.objects.select_for_update().filter(name=name).first()
            if task is not None and not replace:
                raise JobConflict(f"plugin {self.plugin} already has a job {job_id!r}")
            task = task or PeriodicTask(name=name)
            task.crontab, task.interval, task.clocked, task.one_off = None, None, None, False
            message: dict[str, Any] = {"plugin": self.plugin, "job": job_id, "call": call}
            if cron is not None:
                task.crontab = _crontab(job_id, cron, timezone)
            elif every is not None:
                if not isinstance(every, int) or every < 1 or period not in PERIODS:
                    raise PluginError(f"job {job_id}: every must be a positive integer of {sorted(PERIODS)}")
                task.interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
            else:
                when = _aware(job_id, run_at)
                task.clocked, _ = ClockedSchedule.objects.get_or_create(clocked_time=when)
                task.one_off = True
                # The worker claims the job by this time: a row re-armed for another time
                # is another firing, a second message for this one finds nothing to claim.
                message["once_at"] = when.isoformat()
            if kwargs:
                message["kwargs"] = kwargs
            task.task = RUN_JOB_TASK
            task.args = "[]"
            task.kwargs = json.dumps(message)
            task.queue = queue or settings.CELERY_TASK_DEFAULT_QUEUE
            task.enabled = True
            task.description = f"Job {job_id} of plugin {self.plugin} — managed by the plugin."
            task.save()
        return _describe(task, self.prefix)

    def add_jobs_from(self, plugin: Plugin) -> list[dict[str, Any]]:
        """Add (or replace) every job the plugin declares with @cron / @interval."""
        return [self._add_spec(spec) for spec in plugin_jobs(self.plugin)]

    def _add_spec(self, spec: JobSpec) -> dict[str, Any]:
        return self.add_job(
            spec.job_id,
            call=spec.method,
            cron=spec.cron,
            timezone=spec.timezone,
            every=spec.every,
            period=spec.period,
        )

    def remove_job(self, job_id: str) -> bool:
        require(self.plugin, RESOURCE, "write")
        return PeriodicTask.objects.filter(name=self._task_name(job_id)).delete()[0] > 0

    def pause_job(self, job_id: str) -> bool:
        return self._set_enabled(job_id, False)

    def resume_job(self, job_id: str) -> bool:
        return self._set_enabled(job_id, True)

    def _set_enabled(self, job_id: str, enabled: bool) -> bool:
        require(self.plugin, RESOURCE, "write")
        task = PeriodicTask.objects.filter(name=self._task_name(job_id)).first()
        if task is None:
            return False
        task.enabled = enabled
        task.save()  # not .update(): save() bumps beat's change marker
        return True

    def list_jobs(self) -> list[dict[str, Any]]:
        """The plugin's jobs with their schedule, arguments and next run time."""
        require(self.plugin, RESOURCE, "read")
        return describe_jobs(self.plugin)

    jobs = list_jobs  # the name the scheduler documents


def describe_jobs(plugin: str) -> list[dict[str, Any]]:
    """Every job of a plugin as list_jobs() shows it (the admin's view: no grant check)."""
    tasks = plugin_periodic_tasks(plugin).select_related("crontab", "interval", "clocked")
    return [_describe(t, f"plugin:{plugin}:") for t in tasks.order_by("name")]


def describe_job(task: PeriodicTask, plugin: str) -> dict[str, Any]:
    """One job of a plugin as list_jobs() shows it."""
    return _describe(task, f"plugin:{plugin}:")


def _aware(job_id: str, run_at: datetime | str | None) -> datetime:
    """`run_at` as an aware datetime; a naive one or an unreadable string is refused (the
    zone a worker or beat would guess is not necessarily the caller's)."""
    when = run_at
    if isinstance(run_at, str):
        try:
            when = datetime.fromisoformat(run_at)
        except ValueError:
            raise PluginError(f"job {job_id}: run_at {run_at!r} is not an ISO 8601 date and time") from None
    if not isinstance(when, datetime):
        raise PluginError(f"job {job_id}: run_at must be a datetime or an ISO 8601 string")
    if when.utcoffset() is None:
        raise PluginError(
            f"job {job_id}: run_at {when.isoformat()} has no time zone; give one, e.g. "
            f"{when.replace(tzinfo=zoneinfo.ZoneInfo('UTC')).isoformat()}"
        )
    return when


def _checked_kwargs(job_id: str, cls: type[Plugin], call: str, kwargs: Any) -> dict[str, Any]:
    """The job's arguments, refused unless they are a JSON object with string keys that
    survives a round trip unchanged, names no secret, and binds to the method's signature."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict):
        raise PluginError(f"job {job_id}: kwargs must be a dict, not {type(kwargs).__name__}")
    try:
        text = json.dumps(kwargs, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"job {job_id}: kwargs must be JSON-serialisable ({exc})") from None
    if json.loads(text) != kwargs:
        raise PluginError(f"job {job_id}: kwargs change when stored as JSON (tuples, non-string keys?)")
    if len(text) > MAX_KWARGS_BYTES:
        raise PluginError(f"job {job_id}: kwargs are {len(text)} bytes of JSON, over {MAX_KWARGS_BYTES}")
    for key in kwargs:
        if _SECRET_NAME.search(key):
            raise PluginError(
                f"job {job_id}: kwargs key {key!r} looks like a secret; job arguments are stored "
                "in plain text - pass a reference (e.g. a connection name) instead"
            )
    try:
        inspect.signature(getattr(cls, call)).bind(None, **kwargs)
    except TypeError as exc:
        raise PluginError(f"job {job_id}: {call}() cannot take these kwargs ({exc})") from None
    return kwargs


def _crontab(job_id: str, cron: str, timezone: str) -> CrontabSchedule:
    try:
        fields, zone = parse_cron(cron), zoneinfo.ZoneInfo(timezone)
    except ValidationError as exc:
        raise PluginError(f"job {job_id}: {' '.join(exc.messages)}") from None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PluginError(f"job {job_id}: unknown time zone {timezone!r}") from None
    return CrontabSchedule.objects.get_or_create(timezone=zone, **fields)[0]


def _describe(task: PeriodicTask, prefix: str) -> dict[str, Any]:
    message = json.loads(task.kwargs or "{}")
    if task.crontab_id:
        c = task.crontab
        when = f"cron {c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week} ({c.timezone})"
    elif task.clocked_id:
        when = f"once at {task.clocked.clocked_time.isoformat()}"
    else:
        when = f"every {task.interval.every} {task.interval.period}"
    return {
        "id": task.name.removeprefix(prefix),
        "call": message.get("call", ""),
        "kwargs": message.get("kwargs", {}),
        "schedule": when,
        "enabled": task.enabled,
        "next_run": _next_run(task),
        "last_run": task.last_run_at.isoformat() if task.last_run_at else None,
        "total_runs": task.total_run_count,
    }


def _next_run(task: PeriodicTask) -> str | None:
    """When beat fires it next, in the schedule's own time zone (None when paused)."""
    if not task.enabled:
        return None
    if task.clocked_id:
        return task.clocked.clocked_time.isoformat()  # beat sends it then (at once if past)
    now = tz_now()
    if task.interval_id:
        # As beat counts it: from the last run or, never run, from the job's last save - not
        # from now, which would move the announced time on every look.
        return interval_due_at(task, now=now).replace(microsecond=0).isoformat()
    remaining = task.schedule.remaining_estimate(task.last_run_at or task.start_time or now)
    # Rounded to the second: celery's estimate is taken a moment before `now`.
    when = (now + max(remaining, timedelta(0)) + timedelta(milliseconds=500)).replace(microsecond=0)
    if task.crontab_id:
        when = when.astimezone(task.crontab.timezone)
    return when.isoformat()


def plugin_periodic_tasks(plugin: str) -> Any:
    """Operators' view: every PeriodicTask of a plugin (admin, disabling a plugin)."""
    return PeriodicTask.objects.filter(name__startswith=f"plugin:{plugin}:")
