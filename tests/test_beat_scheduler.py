"""syncers.schedules.beat.SyncScheduler (our beat scheduler): fires, follows edits without a restart,
fires one-shots once, and loses at most one run's bookkeeping in a crash, never causing a burst.

The first tests run a real beat process and a real worker; the bookkeeping ones drive the
scheduler in this process and record what it would publish instead of publishing it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks
from django_celery_beat.schedulers import ModelEntry

from fakeapi.control import FakeApi
from syncers.models import SyncClient, SyncRun, SyncSchedule
from syncers.schedules.beat import RepeatSafeCrontab, SyncEntry, SyncScheduler
from xcoresite.celery import app

from .processes import start_beat, wait_until


def fired(client: SyncClient) -> int:
    """Scheduled sends that reached the worker (a paused client records each as skipped)."""
    return SyncRun.objects.filter(client=client, trigger=SyncRun.Trigger.SCHEDULE).count()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_our_scheduler_fires_an_interval_schedule_and_stops_when_it_is_disabled(
    api: FakeApi, make_client
) -> None:
    client = make_client()
    schedule = SyncSchedule.objects.create(client=client, kind="interval", every=2, period="seconds")
    beat = start_beat()
    try:
        assert "syncers.schedules.beat.SyncScheduler" in beat.log(), "settings select our scheduler"
        run = wait_until(
            lambda: SyncRun.objects.filter(client=client, trigger="schedule", status="succeeded").first(),
            timeout=30,
            what="a scheduled run",
        )
        assert run.created == 250

        schedule.enabled = False
        schedule.save()
        time.sleep(3)  # beat reads the change marker every second
        count = fired(client)
        time.sleep(5)
        assert fired(client) == count, "a disabled schedule stops firing without a restart"
    finally:
        beat.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_an_edited_interval_takes_effect_within_seconds_and_a_one_shot_fires_once(
    api: FakeApi, make_client
) -> None:
    hourly = make_client("hourly", state=SyncClient.State.PAUSED)
    once = make_client("once", state=SyncClient.State.PAUSED)
    schedule = SyncSchedule.objects.create(client=hourly, kind="interval", every=1, period="hours")
    SyncSchedule.objects.create(client=once, kind="once", run_at=timezone.now() + timedelta(seconds=4))
    beat = start_beat()
    try:
        time.sleep(2)
        assert fired(hourly) == 0
        schedule.every, schedule.period = 2, "seconds"
        schedule.save()
        edited = time.monotonic()
        wait_until(lambda: fired(hourly) >= 1, timeout=10, what="the edited schedule")
        assert time.monotonic() - edited < 5, "an edit takes effect within 5 s"
        wait_until(lambda: fired(hourly) >= 3, timeout=10, what="runs every 2 s")

        wait_until(lambda: fired(once) >= 1, timeout=15, what="the one-shot")
        time.sleep(4)
        assert fired(once) == 1, "a one-shot fires exactly once"
        task = PeriodicTask.objects.get(sync_schedule__client=once)
        assert (task.enabled, task.total_run_count) == (False, 0), "as stock: disabled after firing"
    finally:
        beat.stop()


class Recording(SyncScheduler):
    """Our scheduler with the broker publish replaced by a list (the bookkeeping is real)."""

    poll_every = 0.0  # every tick reads the change marker, so tests need not wait
    alive: list[Recording] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[str] = []
        super().__init__(*args, app=app, **kwargs)
        Recording.alive.append(self)

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any) -> None:
        self.sent.append(entry.name)

    def sent_of(self, task: PeriodicTask) -> int:
        return self.sent.count(task.name)  # ignores syncers-reconcile, installed at setup


@pytest.fixture(autouse=True)
def _no_bookkeeping_at_exit() -> Iterator[None]:
    """A scheduler writes its bookkeeping at interpreter exit (django-celery-beat's Finalize):
    the test database is gone by then, so each test's schedulers are let go when it ends."""
    yield
    while Recording.alive:
        Recording.alive.pop()._finalize.cancel()


def overdue_interval_task(name: str = "every-10s") -> PeriodicTask:
    """Due long ago: 6 periods were missed while beat was down."""
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(
        name=name, task="bench.noop", interval=every, last_run_at=timezone.now() - timedelta(seconds=65)
    )


@pytest.mark.django_db(transaction=True)
def test_lost_bookkeeping_after_a_crash_is_one_catch_up_run_not_a_burst() -> None:
    task = overdue_interval_task()
    before = PeriodicTask.objects.get(pk=task.pk)

    crashed = Recording()
    for _ in range(3):
        crashed.tick()
    assert crashed.sent_of(task) == 1, "missed periods are not replayed"
    crashed._finalize.cancel()  # SIGKILLed before its next bookkeeping write (every 5 s)
    assert PeriodicTask.objects.get(pk=task.pk).last_run_at == before.last_run_at

    restarted = Recording()
    for _ in range(3):
        restarted.tick()
    assert restarted.sent_of(task) == 1, "one catch-up run after the restart, no more"
    restarted.sync()  # what the flush timer and a clean stop do
    row = PeriodicTask.objects.get(pk=task.pk)
    assert row.total_run_count == 1 and row.last_run_at > before.last_run_at

    again = Recording()
    again.tick()
    assert again.sent_of(task) == 0, "with the bookkeeping written, a restart sends nothing"


@pytest.mark.django_db(transaction=True)
def test_beat_follows_stale_saves_deletions_and_schedule_row_edits_without_resending() -> None:
    task = overdue_interval_task()
    stale = PeriodicTask.objects.get(pk=task.pk)
    beat = Recording()
    beat.tick()
    assert beat.sent_of(task) == 1

    stale.description = "saved from a form opened before the run"
    stale.save()  # writes back the old last_run_at and bumps the change marker
    beat.tick()
    assert beat.sent_of(task) == 1, "a stale copy of the row does not make it due again"

    IntervalSchedule.objects.filter(pk=task.interval_id).update(every=1)
    PeriodicTasks.update_changed()  # as the schedule models' post_save signal does
    time.sleep(1.1)  # the 1 s interval counts from the run above
    beat.tick()
    assert beat.sent_of(task) == 2, "an edit of the interval row itself reaches the entry"

    task.delete()
    time.sleep(1.1)
    beat.tick()
    assert beat.sent_of(task) == 2 and task.name not in beat.schedule


@pytest.mark.django_db(transaction=True)
def test_cron_entries_are_read_in_their_own_time_zone() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+5:30: never the same hour as UTC
    now = timezone.now()
    ran = now - timedelta(minutes=2)

    def cron_task(name: str, hour: int) -> PeriodicTask:
        cron, _ = CrontabSchedule.objects.get_or_create(minute="*", hour=str(hour), timezone=kolkata)
        return PeriodicTask.objects.create(name=name, task="bench.noop", crontab=cron, last_run_at=ran)

    local = cron_task("this-hour-in-kolkata", now.astimezone(kolkata).hour)
    utc = cron_task("this-hour-in-utc", now.astimezone(UTC).hour)
    beat = Recording()
    beat.tick()
    assert (beat.sent_of(local), beat.sent_of(utc)) == (1, 0)


def night_of_sends(entry: ModelEntry, start: datetime, minutes: int) -> list[str]:
    """Step an entry minute by minute from `start` (UTC) as beat's tick would; Berlin times sent."""
    berlin, sent = ZoneInfo("Europe/Berlin"), []
    for minute in range(minutes):
        at = start + timedelta(minutes=minute)
        entry.schedule.nowfun = lambda at=at: at.astimezone(berlin)
        if entry.is_due().is_due:
            sent.append(at.astimezone(berlin).strftime("%H:%M %Z"))
            entry.last_run_at = at
    return sent


@pytest.mark.django_db
def test_a_cron_whose_last_run_is_in_the_repeated_autumn_hour_is_not_sent_in_a_loop() -> None:
    cron, _ = CrontabSchedule.objects.get_or_create(
        minute="*/15", hour="*", timezone=ZoneInfo("Europe/Berlin")
    )
    # Beat comes back at 02:05 CET, in the repeated hour of 25 Oct 2026; it last sent at 01:45 CEST.
    task = PeriodicTask.objects.create(
        name="quarter-hourly",
        task="bench.noop",
        crontab=cron,
        last_run_at=datetime(2026, 10, 24, 23, 45, tzinfo=UTC),
    )
    back = datetime(2026, 10, 25, 1, 5, tzinfo=UTC)

    ours = SyncEntry(task, app=app)
    assert isinstance(ours.schedule, RepeatSafeCrontab)
    assert night_of_sends(ours, back, 60) == ["02:05 CET", "03:00 CET"], "one catch-up, then after the repeat"
    # Celery's crontab alone (django-celery-beat's stock entry): from 02:05 CET the next 02:15 is
    # read as 02:15 CEST, long past, so it is due every time beat looks, up to the hour's last match.
    stock = night_of_sends(ModelEntry(PeriodicTask.objects.get(pk=task.pk), app=app), back, 60)
    assert stock[:3] == ["02:05 CET", "02:06 CET", "02:07 CET"] and stock[-2:] == ["02:45 CET", "03:00 CET"]
    assert len(stock) == 42, "every minute from 02:05 to 02:45 CET"


@pytest.mark.django_db
def test_without_a_result_backend_beat_keeps_no_backend_cleanup_entry() -> None:
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="days")
    PeriodicTask.objects.create(name="celery.backend_cleanup", task="celery.backend_cleanup", interval=every)
    assert app.conf.result_backend is None

    scheduler = Recording()

    assert "celery.backend_cleanup" not in scheduler.schedule
    assert not PeriodicTask.objects.filter(name="celery.backend_cleanup").exists()
    assert "syncers-reconcile" in scheduler.schedule  # the product's own entry is installed
