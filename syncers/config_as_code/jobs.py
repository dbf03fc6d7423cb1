"""The `jobs` section: static jobs, each a registered callable on a trigger (see
syncers.schedules.static_jobs and syncers.schedules.job_registry).

    jobs:
      - id: refresh_counts
        func: catalog.refresh_category_counts   # a name registered with @sync_job
        trigger: interval                       # interval | cron | date
        hours: 1                                # interval: one of weeks, days, hours, minutes, seconds
      - {id: nightly, func: catalog.refresh_category_counts, trigger: cron, cron: "0 3 * * *", timezone: Europe/Berlin}
      - {id: once, func: catalog.refresh_category_counts, trigger: date, run_date: "2026-12-24T18:00:00+01:00"}

Optional on every entry: `kwargs` (a mapping, passed to the callable), `enabled` (default true).
Jobs the file does not name are left alone, unless `--prune` (then they are deleted)."""

from __future__ import annotations

import json
import re
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from syncers.models.clients import parse_cron
from syncers.plugins.services.scheduler import _SECRET_NAME as SECRET_NAME  # the plugin jobs' rule
from syncers.schedules.job_registry import UnknownJob, get_job
from syncers.schedules.static_jobs import (
    PREFIX,
    StaticJob,
    describe_static_job,
    static_job_prune,
    static_job_publish,
    static_job_tasks,
)
from syncers.wording import listed

from .common import ConfigError, Plan, datetime_at, items, refuse_unknown

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")
UNITS = {
    "weeks": ("days", 7),
    "days": ("days", 1),
    "hours": ("hours", 1),
    "minutes": ("minutes", 1),
    "seconds": ("seconds", 1),
}
TRIGGER_KEYS = {"interval": set(UNITS), "cron": {"cron", "timezone"}, "date": {"run_date"}}
COMMON = {"id", "func", "trigger", "kwargs", "enabled"}
JOB_KEYS = COMMON.union(*TRIGGER_KEYS.values())


def apply_jobs(data: dict[str, Any], plan: Plan, *, prune_undeclared: bool) -> None:
    if "jobs" not in data:
        if prune_undeclared:
            plan.note("jobs not pruned: the file has no jobs: section")
        return
    declared = set()
    for index, spec in enumerate(items(data, "jobs", identity="id")):
        job = parse_job(spec, f"jobs[{index}] ({spec['id']})")
        if job.job_id in declared:
            raise ConfigError(f"jobs[{index}] ({job.job_id}): a second job with this id")
        declared.add(job.job_id)
        if verb := static_job_publish(job):
            plan.note(f"{'+' if verb == 'added' else '~'} job {job.job_id}: {job.func} ({job.trigger})")
    if prune_undeclared:
        for gone in static_job_prune(declared):
            plan.note(f"- job {gone}")


def parse_job(spec: dict[str, Any], where: str) -> StaticJob:
    job_id, func, trigger = str(spec["id"]), spec.get("func"), spec.get("trigger")
    if not _ID.match(job_id):
        raise ConfigError(f"{where}.id: 1-80 letters, digits, '.', '_' or '-'")
    if trigger not in TRIGGER_KEYS:
        raise ConfigError(f"{where}.trigger: interval, cron or date, not {trigger!r}")
    refuse_unknown(spec, JOB_KEYS, where)
    if other := sorted(set(spec) - COMMON - TRIGGER_KEYS[trigger]):  # e.g. hours on a cron job
        raise ConfigError(f"{where}: {listed('unknown key', other)} for a {trigger} job")
    if not isinstance(func, str):
        raise ConfigError(f"{where}.func: the name of a registered job callable")
    try:
        get_job(func)
    except UnknownJob as exc:
        raise ConfigError(f"{where}.func: {exc}") from None
    kwargs = spec.get("kwargs") or {}
    if not isinstance(kwargs, dict) or json.loads(json.dumps(kwargs, default=str)) != kwargs:
        raise ConfigError(f"{where}.kwargs: a mapping of JSON values (strings, numbers, lists, mappings)")
    if secret := next((k for k in kwargs if SECRET_NAME.search(k)), None):
        raise ConfigError(
            f"{where}.kwargs: {secret!r} looks like a secret; job arguments are stored in plain text"
        )
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}.enabled: true or false")
    job = StaticJob(job_id=job_id, func=func, trigger=trigger, kwargs=kwargs, enabled=enabled)
    return _with_trigger(job, spec, where)


def _with_trigger(job: StaticJob, spec: dict[str, Any], where: str) -> StaticJob:
    fields: dict[str, Any] = {}
    if job.trigger == "interval":
        given = [u for u in UNITS if u in spec]
        if len(given) != 1:
            raise ConfigError(f"{where}: an interval job takes exactly one of {', '.join(UNITS)}")
        value = spec[given[0]]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}.{given[0]}: a whole number, 1 or more")
        period, factor = UNITS[given[0]]
        fields = {"every": value * factor, "period": period}
    elif job.trigger == "cron":
        tz = str(spec.get("timezone", "UTC"))
        try:
            parse_cron(str(spec.get("cron", "")))
            zoneinfo.ZoneInfo(tz)
        except ValidationError as exc:
            raise ConfigError(f"{where}.cron: {' '.join(exc.messages)}") from None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}.timezone: {tz!r} is not an IANA time zone") from None
        fields = {"cron": str(spec["cron"]), "timezone": tz}
    else:
        if "run_date" not in spec:
            raise ConfigError(f"{where}: a date job needs run_date")
        when = datetime_at(spec["run_date"], where, "run_date")
        existing = static_job_tasks().filter(name=PREFIX + job.job_id, clocked__clocked_time=when).exists()
        if when <= timezone.now() and not existing:
            raise ConfigError(f"{where}.run_date: {when.isoformat()} is in the past")
        fields = {"run_date": when}
    return StaticJob(**{**job.__dict__, **fields})


def export_jobs() -> list[dict[str, Any]]:
    tasks = static_job_tasks().select_related("interval", "crontab", "clocked").order_by("name")
    return [describe_static_job(t) for t in tasks]
