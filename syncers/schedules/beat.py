"""`SyncScheduler`: django-celery-beat's DatabaseScheduler, made to keep up with 10,000+ entries.

Measured on 2 cores, stock 2.9 with 10,000 entries all due every minute sent ~1,500 of them a
minute at ~90 % CPU: every tick compared all entries with a copy (`schedules_equal`) to send one
task, queried the change marker after a reconnect, and an edit saved dirty entries one by one and
rebuilt every entry. This subclass keeps the stock entry (`ModelEntry.is_due`: enabled, start
time, expiry, one-off, time zones), publishing path (`apply_entry`) and change marker
(`PeriodicTasks.last_change`), and changes only the bookkeeping around them:

- a heap of next due times, patched in place; every entry due now goes out in the same tick
  (in slices of `tick_budget` seconds so change polling is never starved);
- the change marker is read at most every `poll_every` seconds; when it moves, a column diff of
  the enabled rows and of their schedule rows finds what changed, and only those rows are
  rebuilt; rows that vanished or were disabled are dropped (the full diff also runs every
  5 minutes, which catches `queryset.update()` without `update_changed()`, as stock's reload did);
- `last_run_at` / `total_run_count` go to the database in a few grouped UPDATEs every
  `flush_every` seconds, not one save per entry; a one-off is disabled in the database in the
  tick it is sent (final state as stock: disabled, count 0, no last run);
- cron rows get `RepeatSafeCrontab`: from a last run inside the hour the autumn DST change
  repeats, celery's crontab finds a next run in the past and stock beat sends in a tight loop.

Crash: up to `flush_every` s of bookkeeping can be lost. Each entry affected then restarts from
its previous `last_run_at`, so it is due once at start-up and sent once; celery's schedules never
replay missed occurrences, so it is at most one catch-up run per entry, never a burst per entry.
A one-off sent in the last tick before a crash may be sent again (never lost).
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from celery.beat import event_t
from celery.utils.functional import is_numeric_value
from celery.utils.log import get_logger
from celery.utils.time import ffwd, maybe_make_aware
from django.db import transaction
from django.db.models import F, Model, Subquery
from django.db.utils import DatabaseError, InterfaceError
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from django_celery_beat.schedulers import SCHEDULE_SYNC_MAX_INTERVAL, DatabaseScheduler, ModelEntry
from django_celery_beat.tzcrontab import TzAwareCrontab
from django_celery_beat.utils import now as beat_now

from syncers.wording import counted

log = get_logger(__name__)  # celery's logger tree, as django_celery_beat.schedulers does

# Columns of PeriodicTask that shape what beat sends or when. date_changed (auto_now) catches any
# save() even of columns not listed; last_run_at/total_run_count are ours, so they are left out.
TASK_FIELDS = (
    "name", "task", "args", "kwargs", "queue", "exchange", "routing_key", "priority", "headers",
    "expires", "expire_seconds", "one_off", "start_time", "date_changed",
    "interval_id", "crontab_id", "solar_id", "clocked_id",
)  # fmt: skip
SCHEDULE_ROWS: dict[str, tuple[type[Model], tuple[str, ...]]] = {
    "interval_id": (IntervalSchedule, ("every", "period")),
    "crontab_id": (
        CrontabSchedule,
        ("minute", "hour", "day_of_week", "day_of_month", "month_of_year", "timezone"),
    ),
    "solar_id": (SolarSchedule, ("event", "latitude", "longitude")),
    "clocked_id": (ClockedSchedule, ("clocked_time",)),
}
_FK_INDEX = {col: TASK_FIELDS.index(col) for col in SCHEDULE_ROWS}
BACKEND_CLEANUP = "celery.backend_cleanup"  # celery's default entry for expiring stored results
CHUNK = 2000  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


def _fingerprint(task: PeriodicTask) -> tuple[Any, ...]:
    return tuple(getattr(task, field) for field in TASK_FIELDS)


def _chunks(items: list[int]) -> list[list[int]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def interval_due_at(task: PeriodicTask, *, now: datetime) -> datetime:
    """When beat sends an interval entry next (never before `now`): `ModelEntry` counts from
    `last_run_at` or, for an entry that has never run, from `date_changed` (the row's last
    save; 30 years earlier with a `start_time`, so it runs at its start) - not from "now"."""
    every = timedelta(**{task.interval.period: task.interval.every})
    if task.last_run_at is None and task.start_time is not None:
        return max(task.start_time, now)
    last = task.last_run_at or task.date_changed or now
    return max(last + every, now)


class RepeatSafeCrontab(TzAwareCrontab):
    """django-celery-beat's time-zone aware crontab whose next run is never at or before the
    instant it counts from.

    Celery finds the next run by wall-clock arithmetic from the last run, and that arithmetic
    drops `fold` (which of two equal wall times is meant). From a last run in the second pass
    of an hour the autumn change repeats (02:00-02:59 CET in Berlin), the next 02:30 comes out
    as the first 02:30 (CEST), already past: due at once and again after every send, a tight
    loop of sends until the wall clock leaves that minute. A last run lands there when beat
    (re)starts, catches up or a schedule is created in the repeated hour. Matches that are not
    later than the last run are skipped, so the repeated hour's times run only in its first
    pass, which is what beat does anyway when it runs through the night (see cron_preview).
    """

    MAX_SKIPS = 24 * 60  # matches one repeated span can hold (a minute apart, a long repeat)

    def remaining_delta(
        self, last_run_at: datetime, tz: str | tzinfo | None = None, ffwd: type = ffwd
    ) -> tuple[datetime, Any, datetime]:
        start, delta, now = super().remaining_delta(last_run_at, tz, ffwd)
        after = self.maybe_make_aware(last_run_at).astimezone(UTC)
        for _ in range(self.MAX_SKIPS):
            match = start + delta  # wall-clock arithmetic: fold 0, the earlier of two equal times
            if match.astimezone(UTC) > after:
                break
            start, delta, now = super().remaining_delta(match, tz, ffwd)
        return start, delta, now

    @classmethod
    def like(cls, other: TzAwareCrontab) -> RepeatSafeCrontab:
        fields = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
        return cls(**{f: getattr(other, f"_orig_{f}") for f in fields}, tz=other.tz, app=other._app)


class SyncEntry(ModelEntry):
    """Stock entry with a `RepeatSafeCrontab` for cron rows; advancing it copies the entry
    instead of re-parsing its row and schedule."""

    schedule: Any  # set by django-celery-beat's ModelEntry (untyped)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if type(self.schedule) is TzAwareCrontab:
            self.schedule = RepeatSafeCrontab.like(self.schedule)

    def advance(self, at: datetime) -> SyncEntry:
        model = self.model
        model.last_run_at = at
        model.total_run_count += 1
        model.no_changes = True
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.last_run_at, new.total_run_count = at, model.total_run_count
        return new

    def __next__(self) -> SyncEntry:
        return self.advance(self._default_now())


class SyncScheduler(DatabaseScheduler):
    Entry = SyncEntry
    poll_every = 1.0  # seconds between reads of the change marker: bounds how late an edit lands
    flush_every = 5.0  # seconds of run bookkeeping a crash may lose
    tick_budget = 0.5  # seconds one tick may spend sending before it polls again
    publish_batch = 100  # messages per broker round trip
    # Set by django-celery-beat's DatabaseScheduler (untyped): declared for the type checker.
    _initial_read: bool
    _schedule: dict[str, ModelEntry]
    _heap: Any  # list[event_t] once tick() has built it, None before (then _push is not called)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set before super().__init__, which reads the schedule.
        self._pending: dict[int, tuple[datetime, int]] = {}  # pk -> (last sent, runs since flush)
        self._retire: list[int] = []  # one-offs sent whose disabling is not written yet
        self._names: dict[int, str] = {}
        self._fps: dict[int, tuple[Any, ...]] = {}
        self._schedule_fps: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._next_poll = 0.0
        self._next_flush = time.monotonic() + self.flush_every
        self._next_diff = time.monotonic() + SCHEDULE_SYNC_MAX_INTERVAL
        self._recheck_at: float | None = None
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        # Without a result backend (CELERY_RESULT_EXPIRES is None then), celery installs no
        # backend_cleanup entry; one that an earlier start installed has nothing to clean.
        if not self.app.conf.result_backend:
            self.Model.objects.filter(name=BACKEND_CLEANUP).delete()
        super().setup_schedule()

    # --- reading the database -----------------------------------------------------------
    @property
    def schedule(self) -> dict[str, ModelEntry]:
        if self._initial_read:
            self._initial_read = False
            # Read the marker first: a change made during the load is then seen by the first poll.
            self._last_timestamp = self.Changes.last_change()
            self._schedule = {}
            self._diff_and_reload()
        return self._schedule

    def _schedule_fingerprints(self) -> dict[tuple[str, int], tuple[Any, ...]]:
        """Schedule rows used by enabled tasks: editing a crontab row changes no task row."""
        result = {}
        for col, (model, fields) in SCHEDULE_ROWS.items():
            used = self.Model.objects.filter(enabled=True).values(col)
            for pk, *values in model._default_manager.filter(pk__in=Subquery(used)).values_list(
                "pk", *fields
            ):
                result[(col, pk)] = tuple(values)
        return result

    def _diff_and_reload(self) -> None:
        rows = {pk: fp for pk, *fp in self.Model.objects.filter(enabled=True).values_list("pk", *TASK_FIELDS)}
        schedule_fps = self._schedule_fingerprints()
        moved = {key for key, fp in schedule_fps.items() if self._schedule_fps.get(key) != fp}
        changed = [
            pk
            for pk, fp in rows.items()
            if self._fps.get(pk) != tuple(fp) or any((col, fp[i]) in moved for col, i in _FK_INDEX.items())
        ]
        for pk in set(self._fps) - set(rows):
            self._drop(pk)
        for chunk in _chunks(changed):
            for task in self.Model.objects.filter(pk__in=chunk, enabled=True).select_related(
                "interval", "crontab", "solar", "clocked"
            ):
                self._install(task)
        self._schedule_fps = schedule_fps
        if changed or moved:
            log.info("beat: reloaded %s of %d", counted(len(changed), "changed schedule"), len(rows))

    def _drop(self, pk: int) -> None:
        self._fps.pop(pk, None)
        self._pending.pop(pk, None)
        name = self._names.pop(pk, None)
        entry = self._schedule.get(name) if name else None
        if name and entry is not None and entry.model.pk == pk:
            del self._schedule[name]  # its heap event is now stale and is skipped when popped

    def _install(self, task: PeriodicTask) -> None:
        try:
            entry = self.Entry(task, app=self.app)
        except ValueError:
            return  # as stock all_as_schedule: a row beat cannot read is skipped
        old_name = self._names.get(task.pk)
        old = self._schedule.get(old_name) if old_name else None
        if old is not None and old.model.pk == task.pk:
            # A form that saved a copy loaded before our last flush writes an older last_run_at;
            # we know it ran later, and re-running it now would be a duplicate.
            if maybe_make_aware(old.last_run_at) > maybe_make_aware(entry.last_run_at):
                entry.last_run_at = task.last_run_at = old.last_run_at
                self._pending.setdefault(task.pk, (old.last_run_at, 0))  # and write it back
            if old_name and old_name != task.name:  # old is not None: old_name is set
                del self._schedule[old_name]
        self._schedule[task.name] = entry
        self._names[task.pk] = task.name
        self._fps[task.pk] = _fingerprint(task)
        if self._heap is not None:
            self._push(entry)

    def _poll(self) -> None:
        mono = time.monotonic()
        if mono < self._next_poll:
            return
        self._next_poll = mono + self.poll_every
        first_marker = self._last_timestamp is None
        changed = self.schedule_changed()  # stock: connection check + the marker query
        # Stock ignores the marker's first appearance (no row yet at start-up); we do not.
        changed = changed or (first_marker and self._last_timestamp is not None)
        due_recheck = self._recheck_at is not None and mono >= self._recheck_at
        if not (changed or due_recheck or mono >= self._next_diff):
            return
        try:
            self._diff_and_reload()
        except (DatabaseError, InterfaceError):
            log.exception("beat: could not reload changed schedules; trying again")
            self._recheck_at = mono
            return
        self._next_diff = mono + SCHEDULE_SYNC_MAX_INTERVAL
        # A writer in autocommit bumps the marker (pre_save) just before its row commits; one
        # more look shortly after catches a row we raced.
        self._recheck_at = mono + 2 * self.poll_every if changed else None
        self._compact_heap()

    # --- sending ------------------------------------------------------------------------
    def clock(self) -> float:
        """Epoch seconds the heap's due times are compared with. They come from the entries'
        own now() (`_when`), so a subclass that simulates time replaces both together."""
        return time.time()

    def _push(self, entry: ModelEntry, delay: float | None = None) -> None:
        if delay is None:
            try:
                is_due, delay = entry.is_due()
            except Exception:
                is_due, delay = self._is_due_failed(entry)
            delay = 0 if is_due else delay
        heapq.heappush(self._heap, event_t(self._when(entry, delay) or 0, 5, entry))

    def _compact_heap(self) -> None:
        if self._heap is not None and len(self._heap) > 2 * len(self._schedule) + 1000:
            self._heap = [e for e in self._heap if self._schedule.get(e[2].name) is e[2]]
            heapq.heapify(self._heap)

    def adjust(self, n: float, drift: float = 0.0) -> float:
        # Stock files events 10 ms early, so each pop found its entry not yet due and pushed it
        # back: many extra is_due() calls per send. Our heap holds the exact due times.
        return n

    def reserve(self, entry: ModelEntry) -> ModelEntry:
        new_entry = entry.advance(entry._default_now())
        self._schedule[entry.name] = new_entry
        _, runs = self._pending.get(entry.model.pk, (None, 0))
        self._pending[entry.model.pk] = (new_entry.last_run_at, runs + 1)
        return new_entry

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Send every entry that is due now; return seconds until the next one (or next poll)."""
        self._poll()
        if self._heap is None:
            self.populate_heap()
        heap = self._heap
        if heap and heap[0][0] <= self.clock():
            try:
                # kombu's publish batch (a Redis pipeline; immediate on other transports) saves a
                # client and a round trip per message: a 5,000-entry burst goes out in ~1 s, not 2-3.
                with self.producer.batch(self.publish_batch):
                    self._send_due(heap)
            except Exception:
                # As a failed send in stock: those occurrences are skipped, not retried in a loop.
                log.exception("beat: publishing a batch of due tasks failed")
        if self._retire:
            self._retire_one_offs()
        busy = bool(heap) and heap[0][0] <= self.clock()
        overdue = time.monotonic() - self._next_flush
        # Write bookkeeping between bursts, unless a long burst has held it back too long.
        if self._pending and overdue >= 0 and (not busy or overdue > 3 * self.flush_every):
            self.sync()
        if busy:
            return 0
        wait = heap[0][0] - self.clock() if heap else self.max_interval
        return max(min(wait, self.max_interval, self._next_poll - time.monotonic()), 0.01)

    def _send_due(self, heap: list[event_t]) -> None:
        schedule, stop = self._schedule, time.monotonic() + self.tick_budget
        later: list[tuple[ModelEntry, float]] = []
        while heap and heap[0][0] <= self.clock() and time.monotonic() < stop:
            entry = heapq.heappop(heap)[2]
            # Our heap holds ModelEntry rows, always named (celery's ScheduleEntry may not be).
            if schedule.get(entry.name) is not entry:  # type: ignore[arg-type]
                continue  # replaced by a reload or a run: stale event
            try:
                is_due, next_check = self.is_due(entry)
            except Exception:
                is_due, next_check = self._is_due_failed(entry)
            if not is_due:
                # The heap ran slightly ahead of the schedule: look again when it says.
                later.append((entry, next_check if is_numeric_value(next_check) else self.max_interval))
                continue
            next_entry = self.reserve(entry)
            self.apply_entry(entry, producer=self.producer)
            if entry.model.one_off:
                # Out of the schedule now; its fingerprint stays, so only a re-armed row
                # (a new time) comes back, even if disabling it in the database fails.
                self._retire.append(entry.model.pk)
                del schedule[entry.name]
            else:
                heapq.heappush(heap, event_t(self._when(next_entry, next_check), 5, next_entry))
        for entry, delay in later:
            self._push(entry, delay)

    # --- writing bookkeeping -------------------------------------------------------------
    def _retire_one_offs(self) -> None:
        pks, self._retire = self._retire, []
        try:
            self.Model.objects.filter(pk__in=pks, one_off=True).update(
                enabled=False, total_run_count=0, last_run_at=None, date_changed=beat_now()
            )
        except (DatabaseError, InterfaceError):
            log.exception("beat: could not disable %s; trying again", counted(len(pks), "sent one-off task"))
            self._retire.extend(pks)

    def sync(self) -> None:
        """Write the pending run bookkeeping: one UPDATE per (second, run count) group."""
        self._next_flush = time.monotonic() + self.flush_every
        if self._retire:
            self._retire_one_offs()
        pending, self._pending = self._pending, {}
        if not pending:
            return
        groups: dict[tuple[datetime, int], list[int]] = defaultdict(list)
        for pk, (at, runs) in pending.items():
            # Rounded down: a restart then never skips an occurrence, at worst runs once early.
            groups[(at.replace(microsecond=0), runs)].append(pk)
        try:
            with transaction.atomic():
                for (at, runs), pks in groups.items():
                    for chunk in _chunks(pks):
                        # enabled=True: a disabled row keeps stock's "no last run".
                        self.Model.objects.filter(pk__in=chunk, enabled=True).update(
                            last_run_at=at, total_run_count=F("total_run_count") + runs
                        )
        except (DatabaseError, InterfaceError):
            log.exception(
                "beat: could not write run bookkeeping of %s; trying again", counted(len(pending), "task")
            )
            for pk, (at, runs) in pending.items():
                newer_at, newer_runs = self._pending.get(pk, (at, 0))
                self._pending[pk] = (newer_at, runs + newer_runs)
