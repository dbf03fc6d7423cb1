"""What a schedule will do, in words and times: the cron expression in English, the next fire
times in the schedule's own IANA time zone, and an explicit note for each daylight-saving
change in the coming year that skips, moves or repeats one of its times.

The fire times are computed with the same code beat uses (`syncers.schedules.beat.RepeatSafeCrontab`,
django-celery-beat's time-zone aware crontab), so the preview shows what beat will do, not what
classic cron would do. What beat does at a DST change is observed the same way, by stepping its
schedule across the change.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from celery.utils.time import remaining
from cron_descriptor import ExpressionDescriptor, Options
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule

from syncers.models import SyncSchedule
from syncers.models.clients import parse_cron
from syncers.schedules.beat import RepeatSafeCrontab, interval_due_at

TIME_FORMAT = "%a %d %b %Y %H:%M %Z"
_MAX_STEPS = 2000  # beat steps simulated around one DST change (every minute for 33 hours)


@dataclass(frozen=True)
class CronPreview:
    words: str = ""
    fires: list[datetime] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""


def cron_words(expr: str) -> str:
    """'*/15 9-17 * * 1-5' → 'Every 15 minutes, between 09:00 and 17:59, Monday through Friday'."""
    options = Options()
    options.use_24hour_time_format = True
    return ExpressionDescriptor(expr, options).get_description()


def _crontab(expr: str, tz: tzinfo) -> RepeatSafeCrontab:
    return RepeatSafeCrontab(tz=tz, **parse_cron(expr))


def _next_fire(schedule: RepeatSafeCrontab, after: datetime) -> datetime:
    """Beat's next fire time after `after` (UTC in, UTC out): the schedule's own arithmetic."""
    start, delta, _ = schedule.remaining_delta(after)
    return after.astimezone(UTC) + remaining(start, delta, now=after)


def cron_next_fires(
    expr: str, tz_name: str, *, count: int = 5, after: datetime | None = None
) -> list[datetime]:
    """The next `count` fire times, as aware datetimes in the schedule's time zone."""
    tz = zoneinfo.ZoneInfo(tz_name)
    schedule = _crontab(expr, tz)
    last = (after or timezone.now()).astimezone(UTC)
    fires = []
    for _ in range(count):
        last = _next_fire(schedule, last)
        fires.append(last.astimezone(tz))
    return fires


def _matches(schedule: RepeatSafeCrontab, wall: datetime) -> bool:
    """Does a local wall-clock time match the fields? (Celery needs day of month AND weekday.)"""
    return (
        wall.minute in schedule.minute
        and wall.hour in schedule.hour
        and wall.day in schedule.day_of_month
        and wall.month in schedule.month_of_year
        and wall.isoweekday() % 7 in schedule.day_of_week
    )


def _transitions(tz: tzinfo, start: datetime, days: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """(UTC instant, offset before, offset after) of every offset change in the window."""
    found = []
    low = start.astimezone(UTC).replace(second=0, microsecond=0)
    for _ in range(days):
        high = low + timedelta(days=1)
        # An aware datetime always has an offset: `or` only tells the type checker so.
        before = low.astimezone(tz).utcoffset() or timedelta(0)
        after = high.astimezone(tz).utcoffset() or timedelta(0)
        if before != after:
            a, b = low, high
            while b - a > timedelta(minutes=1):  # bisect to the minute
                mid = a + (b - a) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid.astimezone(tz).utcoffset() == before:
                    a = mid if mid > a else a + timedelta(minutes=1)
                else:
                    b = mid
            found.append((b, before, after))
        low = high
    return found


def _wall_minutes(start: datetime, end: datetime) -> list[datetime]:
    minutes, wall = [], start
    while wall < end:
        minutes.append(wall)
        wall += timedelta(minutes=1)
    return minutes


def _fires_around(schedule: RepeatSafeCrontab, instant: datetime, span: timedelta) -> set[datetime]:
    fires, last = set(), instant - span - timedelta(hours=1)
    for _ in range(_MAX_STEPS):
        last = _next_fire(schedule, last)
        if last > instant + span + timedelta(hours=1):
            break
        fires.add(last)
    return fires


def _times(walls: list[datetime]) -> str:
    shown = ", ".join(f"{w:%H:%M}" for w in walls[:4])
    return shown + (f" and {len(walls) - 4} more" if len(walls) > 4 else "")


def _say(walls: list[datetime], one: str, many: str) -> str:
    return f"{_times(walls)} {one if len(walls) == 1 else many}"


def _utc(naive_utc: datetime) -> datetime:
    return naive_utc.replace(tzinfo=UTC)


def _forward(
    schedule: RepeatSafeCrontab, tz: tzinfo, affected: list[datetime], before: timedelta, fires: set[datetime]
) -> str:
    """Wall times in the gap do not exist: beat either runs them late or not at all."""

    def runs_late(wall: datetime) -> bool:
        instant = _utc(wall - before)  # how the zone reads a time in the gap: the old offset
        return instant in fires and not _matches(schedule, instant.astimezone(tz).replace(tzinfo=None))

    moved = [w for w in affected if runs_late(w)]
    skipped = [w for w in affected if w not in moved]
    parts = []
    if moved:
        late = ", ".join(f"{_utc(w - before).astimezone(tz):%H:%M %Z}" for w in moved[:4])
        parts.append(_say(moved, "does not exist and runs", "do not exist and run") + f" at {late} instead")
    if skipped:
        parts.append(_say(skipped, "does not exist and is skipped", "do not exist and are skipped"))
    return "; ".join(parts)


def _back(
    affected: list[datetime], before: timedelta, after: timedelta, fires: set[datetime], first: str | None
) -> str:
    """Wall times in the overlap happen twice: beat runs them once or both times."""
    once = [w for w in affected if (_utc(w - before) in fires) != (_utc(w - after) in fires)]
    twice = [w for w in affected if w not in once]
    parts = []
    if once:
        parts.append(
            _say(once, "happens twice and runs once", "happen twice and run once")
            + f" (the first time, {first})"
        )
    if twice:
        parts.append(_say(twice, "happens twice and runs both times", "happen twice and run both times"))
    return "; ".join(parts)


def _note(
    schedule: RepeatSafeCrontab, tz: tzinfo, change: tuple[datetime, timedelta, timedelta]
) -> str | None:
    instant, before, after = change
    wall_before, wall_after = (instant + before).replace(tzinfo=None), (instant + after).replace(tzinfo=None)
    forward = after > before
    low, high = sorted([wall_before, wall_after])
    affected = [w for w in _wall_minutes(low, high) if _matches(schedule, w)]
    if not affected:
        return None
    fires = _fires_around(schedule, instant, abs(after - before))
    first, then = (instant - timedelta(minutes=1)).astimezone(tz).tzname(), instant.astimezone(tz).tzname()
    head = (
        f"{wall_before:%a %d %b %Y}: clocks go {'forward' if forward else 'back'} "
        f"from {wall_before:%H:%M} to {wall_after:%H:%M} ({first}→{then}); "
    )
    body = (
        _forward(schedule, tz, affected, before, fires)
        if forward
        else _back(affected, before, after, fires, first)
    )
    return head + body + "."


def dst_notes(expr: str, tz_name: str, *, after: datetime | None = None, days: int = 366) -> list[str]:
    """A sentence for each DST change in the next `days` that skips, moves or repeats a fire time."""
    tz = zoneinfo.ZoneInfo(tz_name)
    schedule = _crontab(expr, tz)
    changes = _transitions(tz, after or timezone.now(), days)
    return [note for change in changes if (note := _note(schedule, tz, change))]


def cron_preview(expr: str, tz_name: str, *, count: int = 5, after: datetime | None = None) -> CronPreview:
    """Words, next fire times and DST notes; a bad expression or zone comes back as `error`."""
    try:
        fires = cron_next_fires(expr, tz_name, count=count, after=after)
        return CronPreview(cron_words(expr), fires, dst_notes(expr, tz_name, after=after))
    except ValidationError as exc:
        return CronPreview(error=" ".join(exc.messages))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        return CronPreview(error=f"{tz_name!r} is not an IANA time zone ({exc})")


def interval_preview(
    every: object, period: str, *, first: datetime | None = None, count: int = 5
) -> CronPreview:
    """An interval in words and its next `count` fire times: `first` (beat's next send for a
    published schedule), else one interval from now, as an unsaved row will count."""
    periods = dict(IntervalSchedule.PERIOD_CHOICES)
    try:
        amount = int(str(every))
    except ValueError:
        amount = 0
    if amount < 1:
        return CronPreview(error="'every' must be a whole number from 1 up.")
    if period not in periods:
        return CronPreview(error=f"'period' must be one of: {', '.join(periods)}.")
    step = timedelta(**{period: amount})
    start = timezone.localtime(first or timezone.now() + step)
    unit = period if amount != 1 else period.rstrip("s")
    return CronPreview(f"Every {amount} {unit}", [start + step * i for i in range(count)])


def schedule_preview(schedule: SyncSchedule, *, now: datetime | None = None) -> CronPreview:
    """What the schedule inline shows for a saved cron or (enabled) interval row."""
    if schedule.kind == SyncSchedule.Kind.CRON:
        return cron_preview(schedule.cron, schedule.timezone, after=now)
    return interval_preview(schedule.every, schedule.period, first=schedule_next_fire(schedule, now=now))


def schedule_next_fire(schedule: SyncSchedule, *, now: datetime | None = None) -> datetime | None:
    """When beat fires this schedule next (in its own zone for cron); None if it never will."""
    now = now or timezone.now()
    if not schedule.enabled or schedule.runs_left == 0:
        return None
    when = _unbounded_next_fire(schedule, now)
    if when is not None and schedule.end is not None and when >= schedule.end:
        return None  # beat disables it at its end instead
    return when


BOUND_FORMAT = "%d %b %H:%M %Z"


def schedule_bounds_left(schedule: SyncSchedule, *, now: datetime | None = None) -> str:
    """What is left of a schedule's bounds, in words: "3 runs left", "ends 13 Dec 18:00 CET",
    "starts …", "ended …" (times in the schedule's zone); "" for an unbounded schedule."""
    now = now or timezone.now()
    zone = schedule.zone()
    parts = []
    if schedule.start is not None and schedule.start > now and schedule.kind == SyncSchedule.Kind.INTERVAL:
        parts.append(f"starts {timezone.localtime(schedule.start, zone):{BOUND_FORMAT}}")
    if schedule.end is not None:
        verb = "ended" if schedule.end <= now else "ends"
        parts.append(f"{verb} {timezone.localtime(schedule.end, zone):{BOUND_FORMAT}}")
    if (left := schedule.runs_left) is not None:
        parts.append(
            f"{left} run{'' if left == 1 else 's'} left" if left else f"all {schedule.max_runs} runs done"
        )
    return ", ".join(parts)


def _unbounded_next_fire(schedule: SyncSchedule, now: datetime) -> datetime | None:
    if schedule.kind == SyncSchedule.Kind.CRON:
        try:
            return cron_next_fires(schedule.cron, schedule.timezone, count=1, after=now)[0]
        except (ValidationError, ValueError, zoneinfo.ZoneInfoNotFoundError):
            return None
    if schedule.kind == SyncSchedule.Kind.INTERVAL:
        task = schedule.periodic_task
        if task is None or task.interval_id is None:  # not published yet
            if schedule.start is not None:
                return max(schedule.start, now)
            return now + timedelta(**{schedule.period: schedule.every or 0})
        return interval_due_at(task, now=now)
    return schedule.run_at if schedule.run_at and schedule.run_at > now else None
