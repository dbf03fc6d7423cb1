"""Schedules live in django-celery-beat's tables, one PeriodicTask each, and beat follows edits."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from fakeapi.control import FakeApi
from syncers.models import SyncRun, SyncSchedule

from .processes import start_beat, wait_until


@pytest.mark.django_db
def test_each_schedule_is_one_periodic_task_with_frozen_name_and_only_the_ids(make_client) -> None:
    client = make_client(queue="imports")
    cron = SyncSchedule.objects.create(
        client=client, kind="cron", cron="*/15 6-18 * * 1-5", timezone="Europe/Berlin"
    )
    every = SyncSchedule.objects.create(client=client, kind="interval", every=10, period="minutes")
    once = SyncSchedule.objects.create(client=client, kind="once", run_at=timezone.now() + timedelta(hours=1))

    tasks = PeriodicTask.objects.filter(task="syncers.scheduled_sync")
    assert tasks.count() == 3
    for schedule in (cron, every, once):
        task = PeriodicTask.objects.get(sync_schedule=schedule)
        assert json.loads(task.kwargs) == {"client_id": client.pk, "schedule_id": schedule.pk}
        assert task.queue == "imports" and task.enabled
    cron_task = PeriodicTask.objects.get(sync_schedule=cron)
    assert (cron_task.crontab.minute, cron_task.crontab.hour, cron_task.crontab.day_of_week) == (
        "*/15",
        "6-18",
        "1-5",
    )
    assert str(cron_task.crontab.timezone) == "Europe/Berlin"
    assert PeriodicTask.objects.get(sync_schedule=every).interval.every == 10
    once_task = PeriodicTask.objects.get(sync_schedule=once)
    assert once_task.one_off and once_task.clocked.clocked_time == once.run_at


@pytest.mark.django_db
def test_editing_disabling_and_deleting_a_schedule_reaches_beat(make_client) -> None:
    client = make_client()
    schedule = SyncSchedule.objects.create(client=client, kind="cron", cron="0 * * * *")
    marker = PeriodicTasks.last_change()

    schedule.cron = "30 2 * * *"
    schedule.enabled = False
    schedule.save()

    task = PeriodicTask.objects.get(sync_schedule=schedule)
    assert (task.crontab.minute, task.crontab.hour, task.enabled) == ("30", "2", False)
    assert PeriodicTasks.last_change() > marker, "beat re-reads its schedule only when this moves"
    schedule.delete()
    assert not PeriodicTask.objects.filter(task="syncers.scheduled_sync").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "cron", "cron": "* * *"}, "cron", "5 fields"),
        ({"kind": "cron", "cron": "61 * * * *"}, "cron", "Invalid cron"),
        ({"kind": "cron", "cron": "0 * * * *", "timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"kind": "interval"}, "every", "needs 'every'"),
        ({"kind": "once"}, "run_at", "needs a date"),
    ],
)
def test_bad_schedules_are_refused_at_the_field(make_client, fields, field, message) -> None:
    schedule = SyncSchedule(client=make_client(), **fields)
    with pytest.raises(ValidationError) as err:
        schedule.full_clean()
    assert message in " ".join(err.value.message_dict[field])


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_beat_fires_a_schedule_and_stops_when_it_is_disabled(api: FakeApi, make_client) -> None:
    client = make_client()
    schedule = SyncSchedule.objects.create(client=client, kind="interval", every=2, period="seconds")
    beat = start_beat()
    try:
        first = wait_until(
            lambda: (
                SyncRun.objects.filter(client=client, trigger="schedule", status="succeeded")
                .order_by("pk")
                .first()
            ),
            timeout=45,
            what="a scheduled run",
        )
        assert (first.fetched, first.created, first.failed) == (250, 250, 0)
        assert first.triggered_by == "schedule"

        schedule.enabled = False
        schedule.save()
        time.sleep(4)  # beat notices the change on its next tick (max interval 1 s)
        fired = SyncRun.objects.filter(client=client).count()
        time.sleep(6)
        assert SyncRun.objects.filter(client=client).count() == fired, "a disabled schedule does not fire"
    finally:
        beat.stop()


@pytest.mark.django_db
def test_beats_own_admin_cannot_fork_a_schedule_from_its_task(make_client, admin_client) -> None:
    """django-celery-beat's admin lists the schedules' tasks too. Its bulk disable must stick
    (the schedule follows, so the client's next save does not re-enable it), and a managed
    task cannot be edited or deleted there behind its schedule's back."""
    client = make_client()
    kept = SyncSchedule.objects.create(client=client, kind="interval", every=5, period="minutes")
    other = SyncSchedule.objects.create(client=client, kind="cron", cron="0 6 * * *", timezone="UTC")
    url = "/admin/django_celery_beat/periodictask/"

    def act(action: str, *schedules: SyncSchedule) -> None:
        ids = [s.periodic_task_id for s in schedules]
        response = admin_client.post(url, {"action": action, "_selected_action": ids, "index": "0"})
        assert response.status_code == 302

    act("disable_tasks", kept)
    client.save()  # e.g. an operator edits the client afterwards
    kept.refresh_from_db()
    assert not kept.enabled and not PeriodicTask.objects.get(pk=kept.periodic_task_id).enabled
    act("toggle_tasks", kept, other)
    assert [s.enabled for s in SyncSchedule.objects.filter(pk__in=[kept.pk, other.pk]).order_by("pk")] == [
        True,
        False,
    ]

    change = f"{url}{kept.periodic_task_id}/change/"
    admin_client.raise_request_exception = False  # the 403 response, not the exception
    assert admin_client.post(change, {"name": "renamed", "task": "x"}).status_code == 403
    admin_client.post(
        url, {"action": "delete_selected", "_selected_action": [kept.periodic_task_id], "post": "yes"}
    )
    assert PeriodicTask.objects.filter(pk=kept.periodic_task_id).exists()


@pytest.mark.django_db
def test_saving_a_client_leaves_its_unchanged_schedules_and_their_clocks_alone(make_client) -> None:
    client = make_client()
    every = SyncSchedule.objects.create(client=client, kind="interval", every=10, period="minutes")
    task = PeriodicTask.objects.get(sync_schedule=every)
    marker = PeriodicTasks.last_change()

    client.description = "an unrelated edit"
    client.save()
    SyncSchedule.objects.create(client=client, kind="cron", cron="0 3 * * *")

    again = PeriodicTask.objects.get(pk=task.pk)
    assert again.date_changed == task.date_changed, "beat counts a fresh interval from date_changed"
    assert PeriodicTasks.last_change() > marker, "the new cron schedule still reaches beat"
    client.queue = "imports"
    client.save()
    assert PeriodicTask.objects.get(pk=task.pk).queue == "imports", "a changed column is written"


@pytest.mark.django_db
def test_an_interval_that_has_not_fired_is_announced_from_its_last_save_not_from_now(make_client) -> None:
    from syncers.ops.health import next_fire
    from syncers.schedules.cron_preview import schedule_next_fire

    client = make_client()
    every = SyncSchedule.objects.create(client=client, kind="interval", every=10, period="minutes")
    task = PeriodicTask.objects.get(sync_schedule=every)
    due = task.date_changed + timedelta(minutes=10)
    later = task.date_changed + timedelta(minutes=3)

    assert schedule_next_fire(every, now=later) == due, "the same time however late one looks"
    assert next_fire(task) == (due + timedelta(microseconds=500_000)).replace(microsecond=0).isoformat()
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=due)
    every.periodic_task.refresh_from_db()
    assert schedule_next_fire(every, now=later) == due + timedelta(minutes=10)
