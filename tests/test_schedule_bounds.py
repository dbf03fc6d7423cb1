"""Bounded schedules: an interval with a start and an end or a number of runs, a cron with an
end. Beat's own start_time / expires hold and end them; the worker counts a run limit, so it is
exact under two beats, and the schedule disables itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from fakeapi.control import FakeApi
from syncers.config_as_code import ConfigError, apply_config, export_config
from syncers.models import SyncClient, SyncRun, SyncSchedule
from syncers.schedules.cron_preview import schedule_bounds_left, schedule_next_fire

from .processes import start_beat, wait_until


def fires(client: SyncClient) -> list[SyncRun]:
    """Scheduled fires that reached the worker (a paused client records each as skipped)."""
    return list(SyncRun.objects.filter(client=client, trigger=SyncRun.Trigger.SCHEDULE).order_by("pk"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "interval", "every": 1, "max_runs": 0}, "max_runs", "at least 1"),
        (
            {
                "kind": "interval",
                "every": 1,
                "start": datetime(2026, 12, 13, 18, tzinfo=UTC),
                "end": datetime(2026, 12, 13, 17, tzinfo=UTC),
            },
            "end",
            "after the start",
        ),
        (
            {"kind": "interval", "every": 1, "end": datetime(2026, 12, 13, tzinfo=UTC), "max_runs": 3},
            "max_runs",
            "either an end or a number of runs",
        ),
        ({"kind": "cron", "cron": "0 * * * *", "max_runs": 3}, "max_runs", "Only interval"),
        ({"kind": "cron", "cron": "0 * * * *", "start": timezone.now()}, "start", "Only interval"),
    ],
)
def test_contradictory_bounds_are_refused_at_the_field(make_client, fields, field, message) -> None:
    schedule = SyncSchedule(client=make_client(), **fields)
    with pytest.raises(ValidationError) as err:
        schedule.full_clean()
    assert message in " ".join(err.value.message_dict[field])


@pytest.mark.django_db
def test_bounds_go_to_beats_own_start_time_and_expires_and_an_end_in_the_past_disables(make_client) -> None:
    client = make_client()
    start, end = timezone.now() + timedelta(hours=1), timezone.now() + timedelta(days=7)
    week = SyncSchedule.objects.create(
        client=client, kind="interval", every=1, period="hours", start=start, end=end
    )
    nightly = SyncSchedule.objects.create(client=client, kind="cron", cron="0 3 * * *", end=end)
    over = SyncSchedule.objects.create(
        client=client, kind="interval", every=1, period="hours", end=timezone.now() - timedelta(minutes=1)
    )

    task = PeriodicTask.objects.get(sync_schedule=week)
    assert (task.start_time, task.expires, task.enabled) == (start, end, True)
    assert PeriodicTask.objects.get(sync_schedule=nightly).expires == end
    assert not PeriodicTask.objects.get(sync_schedule=over).enabled, "an end in the past disables"
    assert schedule_next_fire(week) == start, "the first fire is at the start"
    assert schedule_next_fire(over) is None


@pytest.mark.django_db
def test_preview_and_sync_schedules_say_how_many_runs_are_left_and_when_it_ends(make_client) -> None:
    client = make_client()
    end = datetime(2026, 12, 13, 17, tzinfo=UTC)  # 18:00 in Berlin (CET)
    ending = SyncSchedule(client=client, kind="cron", cron="0 * * * *", timezone="Europe/Berlin", end=end)
    counted = SyncSchedule(client=client, kind="interval", every=1, period="hours", max_runs=5, runs_fired=2)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    assert schedule_bounds_left(ending, now=now) == "ends 13 Dec 18:00 CET"
    assert schedule_bounds_left(counted, now=now) == "3 runs left"
    assert schedule_bounds_left(ending, now=end) == "ended 13 Dec 18:00 CET"

    counted.save()
    out = StringIO()
    call_command("sync_schedules", client.name, stdout=out)
    assert "every 1 hours, 5 times: next " in out.getvalue()
    assert "(3 runs left)" in out.getvalue()


@pytest.mark.django_db
def test_yaml_takes_start_end_and_max_runs_exports_them_back_and_names_the_path_of_a_bad_one(
    make_client,
) -> None:
    make_client()
    data = {"clients": export_config()["clients"]}
    data["clients"][0]["schedules"] = [
        {"every": 1, "period": "hours", "start": "2026-12-07T09:00:00+01:00", "max_runs": 5},
        {"cron": "0 18 * * *", "timezone": "Europe/Berlin", "end": "2026-12-13T18:00:00+01:00"},
    ]
    plan = apply_config(data)
    assert len([c for c in plan.changes if c.startswith("+ schedule")]) == 2
    exported = export_config()["clients"][0]["schedules"]
    assert exported[0] == {
        "every": 1,
        "period": "hours",
        "start": "2026-12-07T08:00:00+00:00",
        "max_runs": 5,
    }
    assert exported[1]["end"] == "2026-12-13T17:00:00+00:00"
    again = yaml.safe_load(yaml.safe_dump({"clients": export_config()["clients"]}))
    assert apply_config(again).changes == [], "idempotent"

    data["clients"][0]["schedules"][0]["max_runs"] = 7
    assert any("max_runs=7" in c for c in apply_config(data).changes), "changed in place"

    bad = {"every": 1, "period": "hours", "end": "2026-12-13T18:00:00+01:00", "max_runs": 3}
    for schedule, message in [
        (bad, "clients[0] (products).schedules[0]: max_runs: Give either an end or a number of runs"),
        ({"every": 1, "max_runs": 0}, "schedules[0]: max_runs: Give at least 1 run"),
        ({"every": 1, "max_runs": "3"}, "schedules[0].max_runs: a whole number of runs"),
        ({"every": 1, "end": "next week"}, "schedules[0]: 'end' must be an ISO date-time"),
        ({"cron": "0 * * * *", "start": "2026-12-07T09:00:00+01:00"}, "start: Only interval"),
    ]:
        data["clients"][0]["schedules"] = [schedule]
        with pytest.raises(ConfigError) as err:
            apply_config(data)
        assert message in str(err.value)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_an_interval_limited_to_three_runs_fires_exactly_three_times_under_two_beats_then_disables(
    api: FakeApi, make_client
) -> None:
    client = make_client(state=SyncClient.State.PAUSED)  # each fire is recorded, skipped: quick
    schedule = SyncSchedule.objects.create(
        client=client, kind="interval", every=1, period="seconds", max_runs=3
    )
    beats = [start_beat(), start_beat()]
    try:
        wait_until(lambda: len(fires(client)) >= 3, timeout=30, what="three fires")
        time.sleep(5)  # both beats keep ticking every second; a fourth would show by now
        assert len(fires(client)) == 3
        assert {run.schedule_id for run in fires(client)} == {schedule.pk}
        schedule.refresh_from_db()
        assert (schedule.enabled, schedule.runs_fired, schedule.runs_left) == (False, 3, 0)
        assert not PeriodicTask.objects.get(sync_schedule=schedule).enabled
    finally:
        for beat in beats:
            beat.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_beat_holds_an_interval_until_its_start_and_stops_it_at_its_end(api: FakeApi, make_client) -> None:
    later = make_client("later", state=SyncClient.State.PAUSED)
    ending = make_client("ending", state=SyncClient.State.PAUSED)
    # Beat first, then the schedules (it picks them up within its 1 s max interval): the
    # seconds a loaded machine takes to start beat do not eat into the 5 s the schedule lasts.
    beat = start_beat()
    try:
        start = (timezone.now() + timedelta(seconds=6)).replace(microsecond=0)
        SyncSchedule.objects.create(client=later, kind="interval", every=1, period="hours", start=start)
        end = timezone.now() + timedelta(seconds=5)
        stopping = SyncSchedule.objects.create(
            client=ending, kind="interval", every=1, period="seconds", end=end
        )
        wait_until(lambda: fires(later), timeout=30, what="the fire at the start")
        assert fires(later)[0].queued_at >= start, "nothing fires before the start"
        wait_until(lambda: timezone.now() > end + timedelta(seconds=3), timeout=15)
        count = len(fires(ending))
        assert count >= 1, "it fired until its end"
        time.sleep(3)
        assert len(fires(ending)) == count, "nothing fires after the end"
        assert all(run.queued_at < end for run in fires(ending))
        assert not PeriodicTask.objects.get(sync_schedule=stopping).enabled, "beat disabled it at its end"
        assert len(fires(later)) == 1, "hourly: one fire, at the start"
    finally:
        beat.stop()
