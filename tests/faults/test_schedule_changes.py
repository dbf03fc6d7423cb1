"""Schedules under a running beat (issue 9, scenario 13).

13. DST: crons at 02:30 and 02:45 Europe/Berlin (on two clients) across the spring and the
    autumn change. There is no libfaketime here, so a real `celery beat` runs
    `tests.faults.fake_clock.SimulatedScheduler` (our scheduler on a simulated clock, 6,000 times
    as fast as real time) from the night before the change to the morning after, and a real
    worker carries out what it sends. In the night beat stops and a new one starts, reading
    `last_run_at` back from the database: in spring right after the gap; in autumn beat is
    down from 02:40 CEST to 02:10 CET, so the missed 02:45 CEST is caught up inside the repeated
    hour (where celery's crontab alone sends in a tight loop, see syncers.beat.RepeatSafeCrontab).
    Each cron runs once a local day, at the times README documents and the admin's cron preview
    announces; beat logs no error and stops cleanly; the oracle holds for both clients.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.models import PeriodicTask

from syncers.cron_preview import cron_next_fires, dst_notes
from syncers.models import SyncClient, SyncRun, SyncSchedule
from tests.processes import Service

from .conftest import Scenario
from .harness import settle
from .oracle import assert_system_consistent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BERLIN = ZoneInfo("Europe/Berlin")
SIMULATED = "tests.faults.fake_clock:SimulatedScheduler"
SPEED = 6000  # simulated seconds per real second: a night of 25 hours passes in 15 s
LATE = timedelta(minutes=20)  # how late a simulated send may be (~0.2 s of real scheduling delay)
CRASH = re.compile(r"Traceback|: (ERROR|CRITICAL)/")
DAILY, LATER = "30 2 * * *", "45 2 * * *"  # the second one on a client of its own: runs overlap


@dataclass(frozen=True)
class Night:
    start: datetime  # the first beat's clock starts here
    down: datetime  # it stops here (a deploy in the night) ...
    up: datetime  # ... and the next beat starts here
    stop: datetime
    fires: dict[str, tuple[datetime, ...]]  # per cron: when beat must send, one a local day
    note: str  # what the admin's cron preview says about "30 2 * * *" this night


def at(day: str, hh_mm: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(f"{day} {hh_mm}").replace(tzinfo=BERLIN, fold=fold)


NIGHTS = {
    # 02:00-02:59 does not exist: a 02:30 or 02:45 run goes out an hour later (03:30 / 03:45 CEST).
    "spring": Night(
        start=at("2026-03-28", "01:30"),
        down=at("2026-03-29", "03:10"),  # after the gap, before the late runs: read back from the DB
        up=at("2026-03-29", "03:10"),
        stop=at("2026-03-30", "03:00"),
        fires={
            DAILY: (at("2026-03-28", "02:30"), at("2026-03-29", "03:30"), at("2026-03-30", "02:30")),
            LATER: (at("2026-03-28", "02:45"), at("2026-03-29", "03:45"), at("2026-03-30", "02:45")),
        },
        note="Sun 29 Mar 2026: clocks go forward from 02:00 to 03:00 (CET→CEST); "
        "02:30 does not exist and runs at 03:30 CEST instead.",
    ),
    # 02:00-02:59 happens twice: 02:30 runs the first time (CEST) only. Beat is down from 02:40
    # CEST to 02:10 CET, so 02:45 CEST is missed: one catch-up when beat is back, inside the
    # repeated hour, and 02:45 CET does not run again.
    "autumn": Night(
        start=at("2026-10-24", "01:30"),
        down=at("2026-10-25", "02:40"),
        up=at("2026-10-25", "02:10", fold=1),
        stop=at("2026-10-26", "03:00"),
        fires={
            DAILY: (at("2026-10-24", "02:30"), at("2026-10-25", "02:30"), at("2026-10-26", "02:30")),
            LATER: (at("2026-10-24", "02:45"), at("2026-10-25", "02:10", fold=1), at("2026-10-26", "02:45")),
        },
        note="Sun 25 Oct 2026: clocks go back from 03:00 to 02:00 (CEST→CET); "
        "02:30 happens twice and runs once (the first time, CEST).",
    ),
}


def simulated_sends(beat: Service, task: str) -> list[datetime]:
    """When (on the simulated clock, in Berlin) this beat sent the task."""
    found = re.findall(rf"fake clock: sent {re.escape(task)} at (\S+)", beat.log())
    return [datetime.fromisoformat(at).astimezone(BERLIN) for at in found]


def local(moment: datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%a %d %b %H:%M %Z")


def run_simulated_beat(scenario: Scenario, start: datetime, stop: datetime) -> Service:
    """A real beat on the simulated clock from `start` until it stops by itself at `stop`."""
    beat = scenario.procs.beat(
        SIMULATED,
        FAKE_CLOCK_START=start.isoformat(),
        FAKE_CLOCK_STOP=stop.isoformat(),
        FAKE_CLOCK_SPEED=str(SPEED),
        SYNC_RECONCILE_EVERY=str(2 * SPEED),  # the reconciler entry: every 2 real seconds, not 2 simulated
    )
    real_seconds = (stop.timestamp() - start.timestamp()) / SPEED
    code = beat.process.wait(timeout=real_seconds + 30)
    log = beat.log()
    assert code == 0 and "beat stops" in log, f"beat did not stop cleanly ({code}):\n{log[-3000:]}"
    assert not CRASH.search(log), f"beat logged an error:\n{log[-3000:]}"
    return beat


def extra_client(scenario: Scenario, suffix: str) -> SyncClient:
    """Another client like the scenario's: same connection, handler, config and queue."""
    main = scenario.client
    assert main is not None
    fields = ("connection", "handler", "config", "batch_size", "queue")
    client = SyncClient(name=f"{main.name}-{suffix}", **{f: getattr(main, f) for f in fields})
    client.full_clean()
    client.save()
    return client


def assert_consistent(scenario: Scenario, *others: SyncClient) -> None:
    """The oracle for the scenario's client and for each other client of the test."""
    for other in others:
        settle(other, timeout=60)
        assert_system_consistent(other, scenario.api, canary=scenario.canary, logs=scenario.procs.logs())
    scenario.assert_consistent()


@pytest.mark.parametrize("season", list(NIGHTS))
def test_a_0230_berlin_cron_runs_once_a_local_day_across_a_dst_change(
    scenario: Scenario, season: str
) -> None:
    night = NIGHTS[season]
    scenario.serve(records=100)
    scenario.make_client(batch_size=50)
    other = extra_client(scenario, "later")
    scenario.worker(concurrency=2)
    schedules = {
        cron: SyncSchedule.objects.create(client=client, kind="cron", cron=cron, timezone="Europe/Berlin")
        for cron, client in ((DAILY, scenario.client), (LATER, other))
    }
    tasks = {cron: PeriodicTask.objects.get(sync_schedule=s) for cron, s in schedules.items()}
    # Beat has been running until the simulated start (otherwise its first look is a catch-up).
    PeriodicTask.objects.filter(pk__in=[t.pk for t in tasks.values()]).update(last_run_at=night.start)

    beats = [
        run_simulated_beat(scenario, night.start, night.down),
        run_simulated_beat(scenario, night.up, night.stop),
    ]
    scenario.settle(timeout=60)

    for cron, task in tasks.items():
        sends = [sent for beat in beats for sent in simulated_sends(beat, task.name)]
        days = [s.date() for s in sends]
        assert len(days) == len(set(days)), (
            f"{cron}: more than one run a local day: {[local(s) for s in sends]}"
        )
        expected = night.fires[cron]
        assert len(sends) == len(expected), f"{cron}: sent at {[local(s) for s in sends]}"
        for sent, due in zip(sends, expected, strict=True):
            assert due <= sent < due + LATE, f"{cron}: sent at {local(sent)}, due at {local(due)}"
        client = schedules[cron].client
        runs = SyncRun.objects.filter(client=client).order_by("pk").values_list("trigger", "status")
        assert list(runs) == [("schedule", "succeeded")] * len(sends), f"{cron}: one run per send"
        task.refresh_from_db()
        assert task.total_run_count == len(sends), "each beat wrote its bookkeeping when it stopped"
        assert abs(task.last_run_at - sends[-1]) < timedelta(seconds=SPEED), "in simulated time"

    # The admin's preview announces what beat did when it ran through the night, and says why.
    daily = schedules[DAILY]
    announced = cron_next_fires(daily.cron, daily.timezone, after=night.start, count=3)
    assert [local(a) for a in announced] == [local(f) for f in night.fires[DAILY]]
    assert dst_notes(daily.cron, daily.timezone, after=night.start, days=3) == [night.note]
    assert_consistent(scenario, other)
