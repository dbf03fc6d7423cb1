"""The reference data_syncer plugin end to end: the gateway plugin fetches from the fake API
(real HTTP), batches load in a real Celery worker, beat fires its job; and the same plugin
with one permission withdrawn fails with a clear error and changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from io import StringIO

import pytest
from celery import current_app
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.models.plugins import PluginAuditEntry, PluginRun, SyncItem, SyncLog, SyncProgress
from syncers.plugins.context import PluginContext
from syncers.plugins.operations import plugin_configure, plugin_start
from syncers.plugins.reference.data_syncer import LOCK
from syncers.plugins.status import worker_service_state

from .processes import ROOT, child_env, start_beat, wait_until
from .test_plugins import grant, withdraw

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def data_syncer(connection_to: Connection) -> Iterator[PluginContext]:
    """data_syncer and gateway with everything they ask for granted, pointed at the fake API."""
    grant("data_syncer")
    grant("gateway")
    plugin_configure(name="data_syncer", config={"connection": connection_to.name}, who="tester")
    ctx = PluginContext("data_syncer")
    ctx.cache.clear_lock(LOCK)  # Redis outlives test databases: start from a free lock
    yield ctx
    grant("data_syncer", "cache.sync:*")
    ctx.cache.clear_lock(LOCK)


def force_sync() -> dict:
    out = StringIO()
    call_command("plugin_call", "data_syncer", "force_sync", "--payload", "{}", stdout=out)
    return json.loads(out.getvalue())


def served(api: FakeApi) -> dict[str, dict]:
    return {str(r["id"]): r for r in api.records()}


def wait_for_log(timeout: float = 60) -> SyncLog:
    return wait_until(lambda: SyncLog.objects.first(), timeout=timeout, what="a sync_logs row")


@pytest.mark.usefixtures("worker")
def test_force_sync_loads_every_item_through_worker_batches_and_logs_once_after_they_committed(
    api: FakeApi, data_syncer: PluginContext
) -> None:
    result = force_sync()

    assert result == {
        "ok": True,
        "status": "dispatched",
        "sync_id": result["sync_id"],
        "items": 250,
        "batches": 3,
    }
    log = wait_for_log()
    assert log.count == 250 and log.sync_id == result["sync_id"]
    assert {i.external_id: i.data for i in SyncItem.objects.all()} == served(api)
    batches = PluginRun.objects.filter(kind="task", name="tasks.sync:process_batch")
    assert sorted(len(b.payload["items"]) for b in batches) == [50, 100, 100]
    assert {b.status for b in batches} == {"succeeded"} and {b.requested_by for b in batches} == {
        "plugin:data_syncer"
    }
    assert max(b.finished_at for b in batches) <= log.timestamp, "the log is written after the last batch"
    progress = SyncProgress.objects.get(pk=result["sync_id"])
    assert (progress.batches_done, progress.items_done) == (3, 250)
    time.sleep(1.0)
    assert SyncLog.objects.count() == 1
    assert data_syncer.cache.lock_holder(LOCK) is None, "the finaliser released the lock"
    run = PluginRun.objects.get(kind="action", name="force_sync")
    assert run.status == "succeeded" and run.result == result and run.requested_by == "manage.py plugin_call"


@pytest.mark.usefixtures("worker")
def test_a_second_force_sync_while_the_first_holds_the_lock_is_skipped(
    api: FakeApi, data_syncer: PluginContext
) -> None:
    api.configure(page_delay=0.7)  # three pages: the first sync holds the lock for ~2 s while fetching
    first = subprocess.Popen(
        [sys.executable, "manage.py", "plugin_call", "data_syncer", "force_sync"],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: data_syncer.cache.lock_holder(LOCK), timeout=30, what="the first sync's lock")

        second = force_sync()

        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert second == {"ok": True, "status": "skipped", "reason": f"another sync holds {LOCK}"}
    assert first.returncode == 0, err
    assert json.loads(out)["status"] == "dispatched"
    assert wait_for_log().count == 250
    time.sleep(1.0)
    assert SyncLog.objects.count() == 1 and SyncProgress.objects.count() == 1


@pytest.mark.usefixtures("worker")
def test_the_job_registered_by_on_start_runs_a_sync_when_fired(
    api: FakeApi, data_syncer: PluginContext
) -> None:
    plugin_start(name="data_syncer", who="tester")
    task = PeriodicTask.objects.get(name="plugin:data_syncer:hourly_sync")

    # Exactly what beat sends at the top of the hour: the stored task name and kwargs.
    current_app.send_task(task.task, kwargs=json.loads(task.kwargs), queue=task.queue)

    assert wait_for_log().count == 250
    job = wait_until(lambda: PluginRun.objects.filter(kind="job", status="succeeded").first(), timeout=30)
    assert (
        job.name == "hourly_sync" and job.requested_by == "schedule" and job.result["status"] == "dispatched"
    )


@pytest.mark.usefixtures("worker")
def test_beat_fires_a_plugin_job_on_its_schedule(api: FakeApi, data_syncer: PluginContext) -> None:
    data_syncer.scheduler.add_job("every_second", call="hourly_sync", every=1)
    beat = start_beat()
    try:
        wait_for_log(timeout=90)
    finally:
        beat.stop()
        data_syncer.scheduler.remove_job("every_second")
    assert PluginRun.objects.filter(kind="job", name="every_second").exists()
    wait_until(lambda: not SyncProgress.objects.filter(finished_at__isnull=True).exists(), timeout=60)
    assert {log.count for log in SyncLog.objects.all()} == {250}, "every sync that ran logged all items"


@pytest.mark.parametrize(
    ("plugin", "resource", "action"),
    [
        ("data_syncer", "cache.sync:*", "write"),
        ("data_syncer", "plugin:gateway", "execute"),
        ("gateway", "gateway:*", "read"),
        ("data_syncer", "db.sync_*", "read"),
        ("data_syncer", "service:worker", "execute"),
    ],
)
def test_with_one_permission_withdrawn_force_sync_fails_clearly_and_changes_nothing(
    api: FakeApi, data_syncer: PluginContext, plugin: str, resource: str, action: str
) -> None:
    withdraw(plugin, resource)

    with pytest.raises(CommandError, match=f"permission denied: plugin '{plugin}' may not {action}"):
        force_sync()

    assert (
        not SyncProgress.objects.exists() and not SyncItem.objects.exists() and not SyncLog.objects.exists()
    )
    assert not PluginRun.objects.filter(kind="task").exists()
    grant("data_syncer", "cache.sync:*")  # to look at the lock even when that was withdrawn
    assert data_syncer.cache.lock_holder(LOCK) is None
    run = PluginRun.objects.get(kind="action", name="force_sync")
    assert run.status == "denied" and "permission denied" in run.error
    denied = PluginAuditEntry.objects.get(event="denied", run=run)
    assert (denied.plugin, denied.action) == (plugin, action)


def test_an_unreachable_broker_makes_send_fail_fast_and_keeps_the_batches_for_the_reconciler(
    api: FakeApi, data_syncer: PluginContext
) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "plugin_call", "data_syncer", "force_sync"],
        cwd=ROOT,
        env=child_env(CELERY_BROKER_URL="redis://127.0.0.1:9/0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "the broker cannot be reached" in result.stderr.strip().splitlines()[-1]
    assert time.monotonic() - started < 60
    assert PluginRun.objects.filter(kind="task", status="queued", dispatched_at__isnull=True).count() == 3
    assert worker_service_state(older_than=0)["state"] == "degraded"
    assert worker_service_state(older_than=3600) == {"state": "ok", "unsent_tasks": 0, "oldest_unsent": None}
