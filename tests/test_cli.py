"""Operator commands through the real call_command and subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from fakeapi.control import FakeApi
from syncers.models import SyncClient, SyncedRecord, SyncRun
from syncers.ops.health import check_beat
from xcoresite.devstack import celery_command

from .processes import ROOT, TEST_LEASE_TTL, Service, child_env, start_beat, wait_until


def manage(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.django_db(transaction=True)
def test_bulk_import_killed_half_way_resumes_without_re_requesting_committed_pages(
    api: FakeApi, make_client
) -> None:
    api.reset(records=1000, page_delay=0.1)
    client = make_client(queue="nobody-consumes-this")  # --inline: this process loads too
    cmd = [sys.executable, "manage.py", "sync_import", client.name, "--inline"]
    doomed = subprocess.Popen(
        cmd, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    wait_until(
        lambda: (SyncClient.objects.get(pk=client.pk).checkpoint or {}).get("next_page", 0) > 6, timeout=30
    )
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    committed = SyncClient.objects.get(pk=client.pk).checkpoint["next_page"] - 1
    time.sleep(TEST_LEASE_TTL + 0.5)  # the dead import's lease runs out
    api.configure(page_delay=0)

    again = manage("sync_import", client.name, "--inline")

    assert again.returncode == 0, again.stdout + again.stderr
    assert f"resuming at checkpoint {{'next_page': {committed + 1}}}" in again.stdout
    stored = dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "data"))
    assert stored == {str(r["id"]): r for r in api.records()}
    pages = api.stats()["pages"]
    assert all(pages[str(p)] == 1 for p in range(1, committed + 1)), "committed pages are not fetched again"
    assert sum(pages.values()) <= 21 + 1


@pytest.mark.django_db(transaction=True)
def test_limit_pages_stops_early_and_the_next_import_continues(api: FakeApi, make_client) -> None:
    client = make_client(queue="nobody-consumes-this")
    out = StringIO()

    call_command("sync_import", client.name, "--inline", "--limit-pages", "2", stdout=out)
    client.refresh_from_db()
    assert client.checkpoint == {"next_page": 3} and "run the import again" in out.getvalue()
    assert SyncedRecord.objects.filter(client=client).count() == 100

    call_command("sync_import", client.name, "--inline", stdout=StringIO())
    client.refresh_from_db()
    assert client.checkpoint is None and SyncedRecord.objects.filter(client=client).count() == 250
    assert api.stats()["pages"]["1"] == 1
    call_command("sync_import", client.name, "--inline", "--restart", stdout=StringIO())
    assert api.stats()["pages"]["1"] == 2, "--restart reads from the first page again"


@pytest.mark.django_db(transaction=True)
def test_sync_run_inline_needs_no_worker(api: FakeApi, make_client) -> None:
    client = make_client(queue="nobody-consumes-this")
    out = StringIO()
    call_command("sync_run", client.name, "--inline", stdout=out)
    assert "succeeded" in out.getvalue() and SyncedRecord.objects.filter(client=client).count() == 250


@pytest.mark.django_db
def test_pause_and_resume_from_the_command_line(make_client) -> None:
    client = make_client()
    out = StringIO()

    call_command("sync_pause", client.name, "--reason", "supplier outage", "--for", "2h", stdout=out)

    client.refresh_from_db()
    assert client.state == "paused" and client.pause_reason == "supplier outage"
    assert abs((client.paused_until - timezone.now()) - timedelta(hours=2)) < timedelta(seconds=5)
    with pytest.raises(CommandError, match="invalid duration '2 hours'"):
        call_command("sync_pause", client.name, "--for", "2 hours")
    call_command("sync_resume", client.name, "--run-now", stdout=out)
    client.refresh_from_db()
    assert client.state == "active" and "queued run #" in out.getvalue()
    assert SyncRun.objects.filter(client=client, status="queued").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_sync_status_reports_clients_and_fails_as_a_health_check_without_beat(
    api: FakeApi, make_client
) -> None:
    client = make_client()
    call_command("sync_pause", client.name, "--reason", "maintenance", stdout=StringIO())

    result = manage("sync_status", "--json", timeout=60)

    assert result.returncode == 1, "no beat has run: unhealthy"
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert not checks["beat"]["ok"] and checks["workers"]["ok"] and checks["broker"]["ok"]
    (status,) = report["clients"]
    assert (status["client"], status["state"], status["pause_reason"]) == (
        "products",
        "paused",
        "maintenance",
    )
    assert "client products needs an operator" in result.stderr


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_sync_status_is_healthy_while_beat_sends_the_reconciler(api: FakeApi, make_client) -> None:
    make_client()
    beat = start_beat()
    try:
        wait_until(lambda: check_beat().detail.startswith("last heartbeat"), timeout=30, what="a heartbeat")
        result = manage("sync_status", timeout=60)
    finally:
        beat.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok  beat     last heartbeat" in result.stdout and "products: active" in result.stdout


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_sync_status_reports_a_beat_still_starting_and_a_pause_with_an_end_as_healthy(
    api: FakeApi, make_client
) -> None:
    client = make_client()
    call_command("sync_pause", client.name, "--reason", "vendor window", "--for", "2h", stdout=StringIO())
    # First heartbeat 30 s after start, as in production (the tests' default is 2 s).
    cmd = celery_command("beat", "-l", "INFO", "--pidfile=", "--max-interval", "1")
    beat = Service("beat", cmd, ready_marker="beat: Starting", env=child_env(SYNC_RECONCILE_EVERY="30"))
    try:
        wait_until(lambda: PeriodicTask.objects.filter(name="syncers-reconcile").exists(), what="beat's row")
        starting = manage("sync_status", "--json", timeout=60)
    finally:
        beat.stop()

    assert starting.returncode == 0, starting.stdout + starting.stderr
    report = json.loads(starting.stdout)
    beat_check = next(c for c in report["checks"] if c["name"] == "beat")
    assert beat_check["ok"] and beat_check["detail"].startswith("starting")
    (status,) = report["clients"]
    assert (status["state"], status["needs_operator"]) == ("paused", []), "a pause that ends by itself"

    call_command("sync_pause", client.name, "--reason", "vendor window", stdout=StringIO())
    PeriodicTask.objects.filter(name="syncers-reconcile").update(
        date_changed=timezone.now() - timedelta(hours=1)
    )
    stuck = manage("sync_status", timeout=60)
    assert stuck.returncode == 1
    assert "beat     never ran (no heartbeat yet)" in stuck.stdout
    assert (
        "client products needs an operator (paused by manage.py sync_pause with no end: vendor window)"
        in stuck.stderr
    )
