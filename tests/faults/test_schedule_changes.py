"""Schedules under a running beat (issue 9, scenarios 13 and 14; issue 14, scenario 15).

13. DST: crons at 02:30 and 02:45 Europe/Berlin (on two clients) across the spring and the
    autumn change. There is no libfaketime here, so a real `celery beat` runs
    `tests.faults.fake_clock.SimulatedScheduler` (our scheduler on a simulated clock, 6,000 times
    as fast as real time) from the night before the change to the morning after, and a real
    worker carries out what it sends. In the night beat stops and a new one starts, reading
    `last_run_at` back from the database: in spring right after the gap; in autumn beat is
    down from 02:40 CEST to 02:10 CET, so the missed 02:45 CEST is caught up inside the repeated
    hour (where celery's crontab alone sends in a tight loop, see syncers.schedules.beat.RepeatSafeCrontab).
    Each cron runs once a local day, at the times docs/concepts/schedules.md documents and the admin's cron preview
    announces; beat logs no error and stops cleanly; the oracle holds for both clients.
14. Schedules change while a real beat (the configured scheduler, `--max-interval 1`) and a
    real worker run four clients on interval schedules, each change through the admin's path:
    (a) an interval edited 2 s -> 5 s and (b) a schedule disabled (model save, as the client's
    schedule inline does), (c) bulk-disabled by our list action "Disable all their schedules"
    and by django-celery-beat's own "Disable selected tasks" (queryset update() plus
    `PeriodicTasks.update_changed()`), (d) a client paused and another one disabled by the list
    action Pause (its "disable" box ticked for the second). Measured from beat's log: nothing at
    the old cadence and nothing disabled is sent two ticks after the change; the paused and the
    disabled client's runs are recorded as skipped and the fake API gets no request from them
    (each client reads its own page size, so requests tell whose they are), nor from anyone
    once every schedule is disabled or its client paused. Beat is then killed; every send is
    one recorded run and the oracle holds for all five clients.
15. A client is saved (an unrelated edit, then a new cron schedule) while a real beat waits to
    send its 15 s interval for the first time. The time announced before the save - by the
    admin's preview, `sync_schedules` and `sync_status` alike - is the time beat sends it, within
    a tick, and the save does not move it; the time announced after that first send is the
    second send's. The oracle holds.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.db.models import QuerySet
from django_celery_beat.models import PeriodicTask

from fakeapi.control import FakeApi
from syncers.models import SyncClient, SyncRun, SyncSchedule
from syncers.ops.status import client_status
from syncers.schedules.cron_preview import cron_next_fires, dst_notes, schedule_next_fire
from syncers.selectors import client_schedules
from tests.processes import Service, wait_until

from .conftest import Scenario
from .harness import kill, settle
from .oracle import assert_system_consistent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
log = logging.getLogger(__name__)

BERLIN = ZoneInfo("Europe/Berlin")
SIMULATED = "tests.faults.fake_clock:SimulatedScheduler"
SPEED = 6000  # simulated seconds per real second: a night of 25 hours passes in 15 s
LATE = timedelta(minutes=20)  # how late a simulated send may be (~0.2 s of real scheduling delay)
CRASH = re.compile(r"Traceback|^[\d-]+ [\d:,]+ (ERROR|CRITICAL) ", re.M)
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


def extra_client(scenario: Scenario, suffix: str, **config: object) -> SyncClient:
    """Another client like the scenario's: same connection, handler, config and queue."""
    main = scenario.client
    assert main is not None
    fields = ("connection", "handler", "batch_size", "queue")
    client = SyncClient(
        name=f"{main.name}-{suffix}",
        config={**main.config, **config},
        **{f: getattr(main, f) for f in fields},
    )
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


# --- 14. Schedules edited, disabled, bulk-disabled and the client paused under a running beat ---

TICK = 1.0  # the harness starts beat with --max-interval 1: the longest it sleeps between looks
# Beat's lines in the project's log format (settings.LOGGING: one handler, on the root logger).
SENDING = re.compile(r"^([\d-]+ [\d:]+),(\d{3}) INFO celery\.beat: Scheduler: Sending due task (\S+) ", re.M)


def send_times(beat: Service) -> dict[str, list[float]]:
    """Unix time of each send, per task name, read from beat's own log (local time, ms)."""
    sends: dict[str, list[float]] = defaultdict(list)
    for stamp, ms, name in SENDING.findall(beat.log()):
        sends[name].append(time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000)
    return sends


def reload_times(beat: Service) -> list[float]:
    """When beat logged that it rebuilt changed entries (our scheduler; stock logs nothing)."""
    found = re.findall(r"^([\d-]+ [\d:]+),(\d{3}) INFO syncers\.beat: beat: reloaded ", beat.log(), re.M)
    return [time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000 for stamp, ms in found]


def requests_of(api: FakeApi, per_page: int) -> list[float]:
    """When the fake API served a listing to the client reading `per_page` records a page."""
    return [
        t
        for (t, _), call in zip(api.hits(), api.calls(), strict=False)
        if call["query"].get("per_page") == str(per_page)
    ]


def every(client: SyncClient, seconds: int) -> SyncSchedule:
    return SyncSchedule.objects.create(client=client, kind="interval", every=seconds, period="seconds")


def admin_action(admin_client, url: str, action: str, pks: list[int], **fields: str) -> float:
    """POST a list action the way the changelist's form does; when it returned."""
    data = {"action": action, "_selected_action": pks, "index": "0", **fields}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[-2000:]
    return time.time()


def test_edits_and_disabling_reach_a_running_beat_within_two_ticks_and_a_paused_client_makes_no_request(
    scenario: Scenario, admin_client
) -> None:
    scenario.serve(records=60)
    a = scenario.make_client(batch_size=50)  # each client reads its own page size: requests tell whose
    b, c, d, e = (
        extra_client(scenario, name, page_size=size)
        for name, size in (("b", 40), ("c", 30), ("d", 20), ("e", 15))
    )
    scenario.worker(concurrency=2)
    sa, sb, sc1, sc2, sd, se = every(a, 2), every(b, 3), every(c, 3), every(c, 4), every(d, 3), every(e, 3)
    name = {s.pk: PeriodicTask.objects.get(sync_schedule=s).name for s in (sa, sb, sc1, sc2, sd, se)}
    beat = scenario.procs.beat()  # the configured scheduler
    wait_until(
        lambda: (
            all(len(send_times(beat)[n]) >= 2 for n in name.values())
            and all(SyncRun.objects.filter(client=x, status="succeeded").exists() for x in (a, b, c, d, e))
        ),
        timeout=40,
        what="every schedule firing and every client synced once",
    )

    # (a) An edit in the client's schedule inline (the form saves the model): every 2 s -> 5 s.
    sa.every = 5
    sa.save()
    edited = time.time()
    # (b) One schedule unticked in the inline.
    sb.enabled = False
    sb.save()
    disabled = time.time()
    # (c) Bulk: our list action "Disable all their schedules" on client C (both its schedules),
    # and django-celery-beat's own "Disable selected tasks" on D's task, a queryset update()
    # followed by PeriodicTasks.update_changed().
    bulk = admin_action(admin_client, "/admin/syncers/syncclient/", "disable_schedules", [c.pk])
    beat_bulk = admin_action(
        admin_client, "/admin/django_celery_beat/periodictask/", "disable_tasks", [sd.periodic_task_id]
    )
    # (d) The client itself: the list action Pause, with a reason; for E with "disable" ticked.
    paused = admin_action(admin_client, "/admin/syncers/syncclient/", "pause", [a.pk], reason="fault 14")
    disabled_e = admin_action(
        admin_client, "/admin/syncers/syncclient/", "pause", [e.pk], reason="fault 14", disable="on"
    )
    assert SyncClient.objects.get(pk=e.pk).state == SyncClient.State.DISABLED
    time.sleep(12)

    sends = send_times(beat)
    # (a) Sends after the edit at the old cadence end within two ticks; then every 5 s.
    times = sends[name[sa.pk]]
    gaps = [(t, t - prev) for prev, t in pairwise(times) if t > edited]
    late_old = [round(t - edited, 2) for t, gap in gaps if gap < 4.9 and t > edited + 2 * TICK]
    assert not late_old, f"sent at the old cadence {late_old} s after the edit"
    new = [t for t, gap in gaps if gap >= 4.9]
    assert len(new) >= 2, f"no steady 5 s cadence after the edit: gaps {[round(g, 2) for _, g in gaps]}"
    assert new[0] - edited <= 5 + 2 * TICK
    # (b), (c) Nothing sent two ticks after a schedule was disabled.
    cut = {sb.pk: disabled, sc1.pk: bulk, sc2.pk: bulk, sd.pk: beat_bulk}
    for pk, at in cut.items():
        late = [round(t - at, 2) for t in sends[name[pk]] if t > at + 2 * TICK]
        assert not late, f"{name[pk]} sent {late} s after it was disabled"
    reloads = reload_times(beat)
    changes = {"edit": edited, "disable": disabled, "bulk": bulk, "beat admin bulk": beat_bulk}
    log.info(
        "14: beat reloaded %s s after each change; first 5 s send %.2f s after the edit; "
        "last sends relative to disabling: %s",
        {
            what: round(min((r for r in reloads if r > at), default=at - 1) - at, 2)
            for what, at in changes.items()
        },
        new[0] - edited,
        {name[pk]: round(max(sends[name[pk]]) - at, 2) for pk, at in cut.items()},
    )

    # (d) Beat still sends the paused and the disabled client's schedules: each run is skipped
    # and asks nothing.
    def since_stopped(client: SyncClient, at: float) -> QuerySet[SyncRun]:  # new each time: count() caches
        return SyncRun.objects.filter(client=client, queued_at__gt=datetime.fromtimestamp(at, UTC))

    stopped = ((a, paused, 50), (e, disabled_e, 15))
    for client, at, per_page in stopped:
        assert since_stopped(client, at).count() >= 2, f"beat stopped sending {client}'s schedule"
        assert {r.status for r in since_stopped(client, at)} == {"skipped_paused"}
        assert not since_stopped(client, at).exclude(pages=0).exists()
        worked = SyncRun.objects.filter(client=client).exclude(status="skipped_paused")
        assert all(r.started_at.timestamp() < at for r in worked), (
            f"a run of {client} started after it stopped"
        )
        last_finish = max(r.finished_at.timestamp() for r in worked)
        assert not [t for t in requests_of(scenario.api, per_page) if t > last_finish], (
            f"{client} made requests"
        )

    # Quiet: every schedule disabled or its client paused, beat running: no request at all.
    for client in (b, c, d, e):
        settle(client, timeout=60)
    scenario.settle(timeout=60)
    served = scenario.api.stats()["requests"]
    skipped = [since_stopped(client, at).count() for client, at, _ in stopped]
    time.sleep(3 * TICK + 5)
    assert scenario.api.stats()["requests"] == served, "a request while no client may run"
    now_skipped = [since_stopped(client, at).count() for client, at, _ in stopped]
    assert all(n > m for n, m in zip(now_skipped, skipped, strict=True)), "beat kept sending their schedules"

    # Power loss for beat between two sends (5 s apart now), so each logged send was published.
    sent = len(send_times(beat)[name[sa.pk]])
    wait_until(lambda: len(send_times(beat)[name[sa.pk]]) > sent, timeout=10, what="the next send")
    time.sleep(TICK)
    kill(beat.pid)
    beat.process.wait(timeout=10)
    sends = send_times(beat)
    for client, schedules in ((a, [sa]), (b, [sb]), (c, [sc1, sc2]), (d, [sd]), (e, [se])):
        settle(client, timeout=60)
        runs = SyncRun.objects.filter(client=client, trigger="schedule").count()
        assert runs == sum(len(sends[name[s.pk]]) for s in schedules), f"{client}: one run per send"
    assert_consistent(scenario, b, c, d, e)


# --- 15. A client saved under a running beat keeps its interval clock; the preview says when ---


def announced(schedule: SyncSchedule) -> float:
    """The next send as the admin, `sync_schedules` and `sync_status` announce it (one answer)."""
    schedule = SyncSchedule.objects.select_related("client", "periodic_task__interval").get(pk=schedule.pk)
    admin = schedule_next_fire(schedule)
    listed = datetime.fromisoformat(client_schedules(client=schedule.client)[0]["next"])
    status = datetime.fromisoformat(client_status(schedule.client)["schedules"][0]["next"])
    assert admin is not None and abs((listed - admin).total_seconds()) < 0.1
    assert abs((status - admin).total_seconds()) <= 0.5, "sync_status rounds to the second"
    return admin.timestamp()


def test_saving_a_client_under_a_running_beat_keeps_its_interval_clock_and_the_preview_names_the_send(
    scenario: Scenario,
) -> None:
    scenario.serve(records=20)
    client = scenario.make_client()
    scenario.worker()
    every = SyncSchedule.objects.create(client=client, kind="interval", every=15, period="seconds")
    name = PeriodicTask.objects.get(sync_schedule=every).name
    beat = scenario.procs.beat()
    first = announced(every)
    time.sleep(3)

    client.description = "saved while beat waits"
    client.save()
    SyncSchedule.objects.create(client=client, kind="cron", cron="0 3 * * *", timezone="UTC")
    assert announced(every) == first, "looking again, or saving the client, does not move the time"
    wait_until(lambda: send_times(beat)[name], timeout=30, what="the first send")
    sent = send_times(beat)[name][0]
    assert abs(sent - first) <= TICK, f"sent {sent - first:+.2f} s from the announced time"

    # Beat writes last_run_at every few seconds (rounded down to the second); then the
    # announcement counts from it.
    wait_until(lambda: PeriodicTask.objects.get(name=name).last_run_at, timeout=15, what="last_run_at")
    second = announced(every)
    wait_until(lambda: len(send_times(beat)[name]) > 1, timeout=30, what="the second send")
    again = send_times(beat)[name][1]
    assert -TICK <= again - second <= 1 + TICK, f"second send {again - second:+.2f} s from announced"
    log.info("15: first send %+.2f s, second %+.2f s from the announced times", sent - first, again - second)

    every.enabled = False
    every.save()
    beat.stop()
    assert_consistent(scenario)
