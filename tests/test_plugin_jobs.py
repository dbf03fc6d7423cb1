"""The plugin scheduler's one-shot jobs with arguments: `add_job(..., run_at=..., kwargs=...)`
stores the arguments with the job, refuses what it could not run or should not store, shows
them in `jobs()` and on the plugin's page, and fires exactly once under a real beat - also
across a beat restart and with a second beat running."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from syncers.models.plugins import InstalledPlugin, PluginAuditEntry, PluginRun, SyncLog, SyncProgress
from syncers.plugins import PluginError
from syncers.plugins.context import PluginContext
from syncers.plugins.host import run_job

from .processes import start_beat, wait_until
from .test_plugins import grant
from .test_plugins_e2e import data_syncer  # noqa: F401 - the fixture

REMINDER = {"trigger": "reminder for user 42"}


def _scheduler() -> object:
    grant("data_syncer")
    return PluginContext("data_syncer").scheduler


@pytest.mark.django_db
def test_a_one_shot_job_keeps_its_arguments_and_jobs_lists_them_with_its_time() -> None:
    scheduler = _scheduler()
    at = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)

    scheduler.add_job("remind", call="hourly_sync", run_at=at.isoformat(), kwargs=REMINDER)

    task = PeriodicTask.objects.get(name="plugin:data_syncer:remind")
    assert task.one_off and task.enabled and task.clocked.clocked_time == at
    assert json.loads(task.kwargs)["kwargs"] == REMINDER
    (job,) = scheduler.jobs()
    assert job["kwargs"] == REMINDER and job["call"] == "hourly_sync"
    assert job["schedule"] == f"once at {at.isoformat()}"
    assert datetime.fromisoformat(job["next_run"]) == at
    assert scheduler.jobs() == scheduler.list_jobs()


@pytest.mark.django_db
def test_jobs_announces_an_interval_jobs_next_run_as_beat_counts_it_not_from_now() -> None:
    """Never run, an interval job fires one interval after its last save (beat's count), so
    the announced time stays put however often it is looked at; after a run, from that run."""
    scheduler = _scheduler()
    scheduler.add_job("hourly", call="hourly_sync", every=1, period="hours")
    saved = timezone.now() - timedelta(minutes=20)
    PeriodicTask.objects.filter(name="plugin:data_syncer:hourly").update(date_changed=saved)

    (job,) = scheduler.jobs()
    assert datetime.fromisoformat(job["next_run"]) == (saved + timedelta(hours=1)).replace(microsecond=0)

    ran = timezone.now() - timedelta(minutes=5)
    PeriodicTask.objects.filter(name="plugin:data_syncer:hourly").update(last_run_at=ran)
    (job,) = scheduler.jobs()
    assert datetime.fromisoformat(job["next_run"]) == (ran + timedelta(hours=1)).replace(microsecond=0)


def _plugins_json() -> dict:
    out = StringIO()
    call_command("plugins", "--json", stdout=out)
    return {p["plugin"]: p for p in json.loads(out.getvalue())["plugins"]}


@pytest.mark.django_db
def test_an_operator_lists_pauses_resumes_and_removes_one_plugin_job_from_the_shell() -> None:
    """The scheduler documents' jobs(), pause_job, resume_job and remove_job, for an operator:
    `plugins` lists each job with its arguments and next run, `plugin_ctl` acts on one job."""
    scheduler = _scheduler()
    at = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    scheduler.add_job("remind", call="hourly_sync", run_at=at, kwargs=REMINDER)
    scheduler.add_job("hourly", call="hourly_sync", every=1, period="hours")

    assert _plugins_json()["data_syncer"]["jobs"] == scheduler.jobs()
    text = StringIO()
    call_command("plugins", stdout=text)
    assert f"job remind: hourly_sync {json.dumps(REMINDER)}, once at {at.isoformat()}" in text.getvalue()

    ctl = ("plugin_ctl", "data_syncer")
    call_command(*ctl, "pause-job", "--job", "hourly", "--by", "ops", stdout=StringIO())
    jobs = {j["id"]: j for j in _plugins_json()["data_syncer"]["jobs"]}
    assert not jobs["hourly"]["enabled"] and jobs["hourly"]["next_run"] is None and jobs["remind"]["enabled"]
    call_command(*ctl, "resume-job", "--job", "hourly", "--by", "ops", stdout=StringIO())
    assert PeriodicTask.objects.get(name="plugin:data_syncer:hourly").enabled
    call_command(*ctl, "remove-job", "--job", "remind", "--by", "ops", stdout=StringIO())
    assert [j["id"] for j in scheduler.jobs()] == ["hourly"]
    audited = PluginAuditEntry.objects.filter(plugin="data_syncer", actor="ops").order_by("pk")
    assert [(e.event, e.resource) for e in audited] == [
        ("job paused", "plugin:data_syncer:hourly"),
        ("job resumed", "plugin:data_syncer:hourly"),
        ("job removed", "plugin:data_syncer:remind"),
    ]

    with pytest.raises(CommandError, match=r"has no job 'remind' \(it has: hourly\)"):
        call_command(*ctl, "pause-job", "--job", "remind")
    with pytest.raises(CommandError, match="--job goes with pause-job"):
        call_command(*ctl, "pause-job")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"run_at": "2030-01-01T18:00:00"}, "has no time zone; give one, e.g. 2030-01-01T18:00:00+00:00"),
        ({"run_at": "tomorrow at six"}, "'tomorrow at six' is not an ISO 8601 date and time"),
        ({"run_at": 1893520800}, "run_at must be a datetime or an ISO 8601 string"),
        (
            {"run_at": "2030-01-01T18:00:00Z", "cron": "0 * * * *"},
            "give exactly one of cron, every or run_at",
        ),
        ({"every": 5, "kwargs": {"trigger": {1, 2}}}, "kwargs must be JSON-serialisable"),
        ({"every": 5, "kwargs": {"trigger": Decimal("1.5")}}, "kwargs must be JSON-serialisable"),
        ({"every": 5, "kwargs": {"trigger": ("a", "b")}}, "kwargs change when stored as JSON"),
        ({"every": 5, "kwargs": ["reminder"]}, "kwargs must be a dict, not list"),
        ({"every": 5, "kwargs": {"api_token": "x"}}, "kwargs key 'api_token' looks like a secret"),
        ({"every": 5, "kwargs": {"user_id": 42}}, "hourly_sync() cannot take these kwargs"),
        ({"every": 5, "kwargs": {"trigger": "x" * 20_000}}, "bytes of JSON, over 10000"),
    ],
)
def test_add_job_refuses_what_it_could_not_run_or_should_not_store(options: dict, message: str) -> None:
    scheduler = _scheduler()

    with pytest.raises(PluginError, match=re.escape(message)):
        scheduler.add_job("remind", call="hourly_sync", **options)

    assert not PeriodicTask.objects.filter(name="plugin:data_syncer:remind").exists()


@pytest.mark.django_db
def test_the_worker_claims_a_one_shot_once_and_a_rearmed_job_is_another_firing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scheduler = _scheduler()
    calls: list[str] = []
    from syncers.plugins.reference.data_syncer import DataSyncerPlugin

    # The job body is a whole sync against an API; here only who gets to run it matters.
    monkeypatch.setattr(DataSyncerPlugin, "sync", lambda self, *, trigger: calls.append(trigger) or {})
    first = timezone.now() + timedelta(minutes=5)
    scheduler.add_job("remind", call="hourly_sync", run_at=first, kwargs=REMINDER)
    message = json.loads(PeriodicTask.objects.get(name="plugin:data_syncer:remind").kwargs)

    assert run_job("data_syncer", "remind", "hourly_sync", kwargs=REMINDER, once_at=message["once_at"]) == {}
    assert (
        run_job("data_syncer", "remind", "hourly_sync", kwargs=REMINDER, once_at=message["once_at"]) is None
    )

    assert calls == [REMINDER["trigger"]]
    assert scheduler.jobs() == [], "a fired one-shot leaves the schedule"
    (run,) = PluginRun.objects.filter(kind="job", name="remind")
    assert run.status == "succeeded" and run.payload == REMINDER

    # Re-armed for a later time: the old message must not take the new firing.
    scheduler.add_job("remind", call="hourly_sync", run_at=first + timedelta(hours=1), kwargs=REMINDER)
    assert (
        run_job("data_syncer", "remind", "hourly_sync", kwargs=REMINDER, once_at=message["once_at"]) is None
    )
    assert [j["id"] for j in scheduler.jobs()] == ["remind"] and calls == [REMINDER["trigger"]]


@pytest.mark.django_db
def test_the_plugins_page_shows_its_jobs_with_their_arguments(admin_client: Client) -> None:
    scheduler = _scheduler()
    at = datetime(2031, 3, 1, 18, 0, tzinfo=UTC)
    scheduler.add_job("remind", call="hourly_sync", run_at=at, kwargs=REMINDER)
    plugin = InstalledPlugin.objects.get(name="data_syncer")

    page = admin_client.get(f"/admin/syncers/installedplugin/{plugin.pk}/change/").content.decode()

    assert "remind" in page and "once at 2031-03-01T18:00:00+00:00" in page
    assert "{&quot;trigger&quot;: &quot;reminder for user 42&quot;}" in page


def _fired() -> list[SyncProgress]:
    return list(SyncProgress.objects.filter(trigger=REMINDER["trigger"]))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker", "api", "data_syncer")
def test_a_reminder_three_seconds_ahead_fires_once_with_its_kwargs_under_a_real_beat() -> None:
    beat = start_beat()
    try:
        PluginContext("data_syncer").scheduler.add_job(
            "remind", call="hourly_sync", run_at=timezone.now() + timedelta(seconds=3), kwargs=REMINDER
        )
        wait_until(lambda: SyncLog.objects.exists(), timeout=60, what="the reminder's sync")
        # Beat restarted after the firing, and a second beat beside it: neither fires it again.
        beat.stop()
        beat, second = start_beat(), start_beat()
        try:
            time.sleep(6)  # several ticks of both
        finally:
            second.stop()
    finally:
        beat.stop()

    (progress,) = _fired()
    assert progress.items == 250
    (run,) = PluginRun.objects.filter(kind="job", name="remind")
    assert run.payload == REMINDER and run.status == "succeeded" and run.result["status"] == "dispatched"
    assert not PeriodicTask.objects.filter(name="plugin:data_syncer:remind").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker", "api", "data_syncer")
def test_a_reminder_due_while_beat_is_down_fires_once_when_two_beats_come_back() -> None:
    PluginContext("data_syncer").scheduler.add_job(
        "remind", call="hourly_sync", run_at=timezone.now() + timedelta(seconds=2), kwargs=REMINDER
    )
    time.sleep(3)  # due, and no beat is running
    first, second = start_beat(), start_beat()
    try:
        wait_until(lambda: SyncLog.objects.exists(), timeout=60, what="the reminder's sync")
        time.sleep(5)  # time for a duplicate to show up
    finally:
        first.stop()
        second.stop()

    assert len(_fired()) == 1
    assert PluginRun.objects.filter(kind="job", name="remind").count() == 1
