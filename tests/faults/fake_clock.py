"""A beat scheduler on a simulated clock, for DST nights without libfaketime (fault 13).

`SimulatedScheduler` is `syncers.schedules.beat.SyncScheduler` whose clock reads
FAKE_CLOCK_START + real seconds elapsed * FAKE_CLOCK_SPEED, starting at its first read. A real
`celery beat` loads it with `--scheduler tests.faults.fake_clock:SimulatedScheduler`. Every
clock beat consults goes through it:

- the heap's due times (`SyncScheduler.clock`);
- the entries' `_default_now` (django-celery-beat: `last_run_at` of a send, start and expiry
  times) and `default_now` (celery: `_when`, which turns "due in n s" into a heap time);
- each schedule's `nowfun` (celery's crontab and interval arithmetic, django-celery-beat's
  time-zone aware crontab).

What stays real: time.monotonic() (change-marker polls, bookkeeping flushes) and beat's sleep.
A wait the schedule asks for in simulated seconds is divided by the speed before beat sleeps.
At FAKE_CLOCK_STOP beat stops by itself, the way SIGTERM stops it (bookkeeping written). Each
send is logged with its simulated instant ("fake clock: sent <name> at <ISO>")."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, tzinfo
from typing import Any

from celery.utils.log import get_logger

from syncers.schedules.beat import SyncEntry, SyncScheduler

log = get_logger(__name__)
SENT = "fake clock: sent {name} at {at}"  # the test parses these lines


class SimClock:
    """Simulated epoch seconds: `start` at the first read, then `speed` times as fast as real time."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start, self.speed = start.timestamp(), speed
        self._origin: float | None = None

    def time(self) -> float:
        if self._origin is None:
            self._origin = time.monotonic()
        return self.start + (time.monotonic() - self._origin) * self.speed

    def now(self, tz: tzinfo = UTC) -> datetime:
        return datetime.fromtimestamp(self.time(), tz)


def _from_env() -> tuple[SimClock, datetime]:
    start = datetime.fromisoformat(os.environ["FAKE_CLOCK_START"])
    stop = datetime.fromisoformat(os.environ["FAKE_CLOCK_STOP"])
    return SimClock(start, float(os.environ.get("FAKE_CLOCK_SPEED", "3600"))), stop


class SimEntry(SyncEntry):
    clock: SimClock  # set by the scheduler before any entry is built

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schedule = self.schedule
        zone = schedule.tz  # a crontab's own zone; interval and clocked: the app's zone
        schedule.nowfun = lambda: self.clock.now(zone)

    def _default_now(self) -> datetime:
        return self.clock.now(self.app.timezone)

    def default_now(self) -> datetime:
        return self.schedule.now()


class SimulatedScheduler(SyncScheduler):
    Entry = SimEntry

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sim, self.stop_at = _from_env()
        SimEntry.clock = self.sim
        super().__init__(*args, **kwargs)

    def clock(self) -> float:
        return self.sim.time()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.sim.now() >= self.stop_at:
            log.info("fake clock: reached %s, beat stops", self.stop_at.isoformat())
            raise SystemExit(0)  # beat's loop writes the bookkeeping and exits, as on SIGTERM
        interval = super().tick(*args, **kwargs)
        if interval and self._heap:
            # Sleep until the next due time in real seconds (max_interval and polls still cap it).
            due_in = (self._heap[0][0] - self.clock()) / self.sim.speed
            interval = min(interval, max(due_in, 0.001))
        return interval

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        log.info(SENT.format(name=entry.name, at=self.sim.now().isoformat()))
        super().apply_entry(entry, producer=producer)
