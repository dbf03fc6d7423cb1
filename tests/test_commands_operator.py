"""What an operator does in the admin can be scripted: cancel, retry failed records, list them,
test fetch, the checkpoint, schedules, connections and plugins, through the real call_command
(and manage.py subprocesses for exit codes). Each action leaves the record the admin leaves."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.models import FailedRecord, SyncClient, SyncedRecord, SyncRun, SyncSchedule
from syncers.models.plugins import InstalledPlugin, PluginAuditEntry, PluginPermission
from syncers.plugins import Manifest, Permission, Plugin, register
from syncers.services import ClientPaused, sync_run_now_here, sync_run_request

from .processes import ROOT, child_env, wait_until

IDLE = "nobody-consumes-this"  # a queue no worker reads: runs and batches stay where they are


@register
class RestrictedCliSample(Plugin):
    """A restricted plugin (exact grants only), registered in this test process only."""

    manifest = Manifest(
        name="restricted_cli_sample",
        version="0.1.0",
        mode="restricted",
        permissions=(Permission("cache.cli_state", "read"), Permission("db.sync_*", "read")),
    )


def manage(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as failed:
        call_command(*args, stdout=StringIO())
    assert "\n" not in str(failed.value), "an error is one line"
    return failed.value


def history(obj: object) -> list[tuple[str, str]]:
    """(user, message) of the admin log entries about obj, oldest first."""
    entries = LogEntry.objects.filter(object_id=str(obj.pk)).order_by("pk").select_related("user")
    return [(e.user.get_username(), e.change_message) for e in entries]


def failed(
    client: SyncClient, external_id: str, record: object, reason: str = "rejected earlier"
) -> FailedRecord:
    return FailedRecord.objects.create(
        client=client, external_id=external_id, payload=json.dumps(record), reason=reason
    )


# --- sync_cancel ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_ends_a_queued_run_at_once_and_is_logged_under_the_shell_account(make_client) -> None:
    client = make_client(queue=IDLE)
    queued = sync_run_request(client=client, trigger="admin", who="op")

    out = run("sync_cancel", client.name)

    queued.refresh_from_db()
    assert (queued.status, queued.cancel_requested_by) == ("cancelled", "manage.py sync_cancel")
    assert out == f"run #{queued.pk} of products cancelled\n"
    assert history(client) == [
        ("manage.py", f"Cancel run #{queued.pk}: cancelled (by manage.py sync_cancel)")
    ]
    account = get_user_model().objects.get(username="manage.py")
    assert not account.is_active and not account.has_usable_password(), "it cannot log in"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_cancel_with_wait_stops_a_running_run_between_pages(api: FakeApi, make_client) -> None:
    api.reset(records=1000, page_delay=0.2)
    client = make_client()
    alice = get_user_model().objects.create_user("alice")
    running = sync_run_request(client=client, trigger="admin", who="op")
    wait_until(lambda: SyncRun.objects.get(pk=running.pk).pages >= 2, timeout=30, what="two pages")

    out = run("sync_cancel", client.name, "--wait", "30", "--by", "alice")

    running.refresh_from_db()
    assert running.status == "cancelled" and running.pages < 21, "it stopped before the end"
    assert running.cancel_requested_by == "alice"
    assert "cancel requested; it stops between pages and batches" in out
    assert f"run #{running.pk} of products: cancelled" in out
    (entry,) = LogEntry.objects.filter(object_id=str(client.pk))
    assert (entry.user, entry.change_message) == (alice, f"Cancel run #{running.pk}: requested")


@pytest.mark.django_db
def test_cancel_says_clearly_when_there_is_nothing_to_cancel(make_client) -> None:
    client = make_client(queue=IDLE)
    other = make_client("orders", queue=IDLE)
    foreign = SyncRun.objects.create(client=other, trigger="admin")
    ended = SyncRun.objects.create(client=client, trigger="admin", status="succeeded")

    assert str(fails("sync_cancel", client.name)) == "products has no queued or running run to cancel"
    assert str(fails("sync_cancel", client.name, "--run", str(foreign.pk))) == (
        f"run #{foreign.pk} is not a run of products"
    )
    assert "has already ended (succeeded)" in str(fails("sync_cancel", client.name, "--run", str(ended.pk)))
    assert SyncRun.objects.get(pk=foreign.pk).status == "queued"
    assert not LogEntry.objects.exists()


@pytest.mark.django_db
def test_cancel_wait_exits_non_zero_when_the_run_does_not_stop_in_time(make_client) -> None:
    client = make_client(queue=IDLE)
    stuck = SyncRun.objects.create(client=client, trigger="admin", status="running")  # nobody runs it

    error = fails("sync_cancel", client.name, "--wait", "1")

    assert f"run #{stuck.pk} still running after 1s" in str(error) and error.returncode == 1
    assert SyncRun.objects.get(pk=stuck.pk).cancel_requested, "the request itself was recorded"


@pytest.mark.django_db(transaction=True)
def test_cancel_wait_exits_non_zero_when_the_run_ends_otherwise_before_it_sees_the_cancel(
    make_client,
) -> None:
    client = make_client(queue=IDLE)
    late = SyncRun.objects.create(client=client, trigger="admin", status="running")
    # The pipeline finishing its last batch just after the request, as a worker would.
    finish = threading.Timer(0.5, lambda: SyncRun.objects.filter(pk=late.pk).update(status="succeeded"))
    finish.start()
    try:
        error = fails("sync_cancel", client.name, "--wait", "10")
    finally:
        finish.join()

    assert str(error) == f"run #{late.pk} ended succeeded before it saw the cancel"
    assert error.returncode == 1


# --- sync_failed and sync_retry_failed -----------------------------------------------------


@pytest.mark.django_db
def test_sync_failed_lists_newest_first_with_reason_attempts_and_a_limit(make_client) -> None:
    client = make_client(queue=IDLE)
    failed(client, "7", {"id": 7})
    failed(client, "", {"name": "no id"}, reason="no usable id in field 'id'")
    newest = failed(client, "9", {"id": 9, "price": "n/a"}, reason="price is not a number")

    out = run("sync_failed", client.name, "--limit", "2")
    report = json.loads(run("sync_failed", client.name, "--json", "--limit", "2"))

    lines = out.splitlines()
    assert lines[0] == "products: 3 failed records" and lines[-1] == "  ... and 1 more (--limit)"
    assert lines[1].startswith(f"  #{newest.pk}") and "price is not a number" in lines[1]
    assert "(no id)" in lines[2] and "attempts 1" in lines[2]
    assert report["total"] == 3 and [r["external_id"] for r in report["failed"]] == ["9", ""]
    assert report["failed"][0] | {"failed_at": None} == {
        "id": newest.pk,
        "external_id": "9",
        "reason": "price is not a number",
        "attempts": 1,
        "failed_at": None,
        "run": None,
        "payload": {"id": 9, "price": "n/a"},
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_retry_all_with_wait_loads_them_in_a_new_run_and_exits_2_when_some_fail_again(
    api: FakeApi, make_client
) -> None:
    api.replace(0, {"name": "served without an id"})
    client = make_client()
    first = sync_run_now_here(client=client, who="setup")
    assert (first.status, first.failed) == ("partial", 1), "a real run left one failed record"
    failed(client, "9001", {"id": 9001, "name": "rejected before, fine now"})
    failed(client, "9002", {"id": 9002, "name": "rejected before, fine now"})
    out = StringIO()

    with pytest.raises(CommandError) as exited:
        call_command("sync_retry_failed", client.name, "--all", "--wait", "--timeout", "60", stdout=out)

    retry = SyncRun.objects.exclude(pk=first.pk).get(client=client)
    assert exited.value.returncode == 2 and str(exited.value) == f"retry run #{retry.pk} partial"
    assert (retry.status, retry.created, retry.failed) == ("partial", 2, 1)
    assert retry.triggered_by == "manage.py sync_retry_failed"
    assert f"products: 3 failed records re-staged in run #{retry.pk}" in out.getvalue()
    assert SyncedRecord.objects.filter(client=client, external_id__in=["9001", "9002"]).count() == 2
    (again,) = FailedRecord.objects.filter(client=client)
    assert again.run_id == retry.pk, "the record that still has no id failed again, in the retry run"
    assert history(client) == [
        (
            "manage.py",
            f"Retry failed records: 3 re-staged in run #{retry.pk}, 0 superseded "
            "(by manage.py sync_retry_failed)",
        )
    ]


@pytest.mark.django_db
def test_retry_selected_by_external_id_or_number_leaves_the_others(make_client) -> None:
    client = make_client(queue=IDLE)
    one, two, three = (failed(client, str(i), {"id": i}) for i in (1, 2, 3))
    no_id = failed(client, "", {"name": "x"}, reason="no usable id in field 'id'")

    error = fails("sync_retry_failed", client.name, "--id", "1", "--id", "nope", "--record", "999999")
    assert str(error) == "products has no failed record id 'nope', #999999 (see sync_failed)"
    assert FailedRecord.objects.filter(client=client).count() == 4, "nothing was retried"

    report = json.loads(
        run("sync_retry_failed", client.name, "--id", "1", "--record", str(no_id.pk), "--json")
    )

    retry = SyncRun.objects.get(client=client)
    assert report == {"client": "products", "staged": 2, "superseded": 0, "run": retry.pk}
    # Retried records stay listed until their batch loads them (or they fail again).
    assert set(FailedRecord.objects.filter(client=client)) == {one, two, three, no_id}
    refused = fails("sync_retry_failed", client.name, "--all")
    assert str(refused) == f"products: run #{retry.pk} is running; retry once it has finished"
    assert "say which" in str(fails("sync_retry_failed", client.name))
    assert "say which" in str(fails("sync_retry_failed", client.name, "--all", "--id", "2"))


# --- sync_test_fetch -----------------------------------------------------------------------


@pytest.mark.django_db
def test_test_fetch_shows_the_first_page_mapped_and_stores_nothing(api: FakeApi, make_client) -> None:
    client = make_client(queue=IDLE)

    out = run("sync_test_fetch", client.name, "--limit", "3")
    report = json.loads(run("sync_test_fetch", client.name, "--limit", "2", "--json"))

    lines = out.splitlines()
    assert lines[0].startswith("products: page 1, 50 records in ")
    assert lines[0].endswith("showing 3 as a run would map them; nothing was stored")
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3"]
    assert (report["page"], report["page_records"], report["is_last"], report["error"]) == (1, 50, False, "")
    assert [r["external_id"] for r in report["records"]] == ["1", "2"]
    assert [r["set_aside"] for r in report["records"]] == ["", ""], "the load's verdict on each"
    assert report["records"][0]["record"] == api.records()[0]
    assert not SyncRun.objects.exists() and not SyncedRecord.objects.exists()
    assert SyncClient.objects.get(pk=client.pk).checkpoint is None
    assert api.stats()["pages"] == {"1": 2}, "one request per test fetch"
    assert history(client)[0][1].startswith("Test fetch (")


@pytest.mark.django_db
def test_test_fetch_exits_2_for_records_without_an_id_and_1_when_the_fetch_fails(
    api: FakeApi, make_client
) -> None:
    client = make_client(queue=IDLE)
    api.replace(1, {"name": "served without an id"})

    unusable = fails("sync_test_fetch", client.name, "--limit", "5")
    assert unusable.returncode == 2
    assert (
        str(unusable) == "1 of the 5 records shown has no usable id (a run would keep them as failed records)"
    )

    api.configure(fail_pages={"1": 404})
    broken = fails("sync_test_fetch", client.name)
    assert broken.returncode == 1
    assert str(broken).startswith("test fetch of products failed: PermanentError: HTTP 404")
    assert history(client)[-1][1].startswith("Test fetch (") and "PermanentError" in history(client)[-1][1]


# --- sync_checkpoint -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_checkpoint_shows_where_the_next_run_resumes_and_reset_makes_it_start_over(
    api: FakeApi, make_client
) -> None:
    client = make_client(queue=IDLE)
    run("sync_import", client.name, "--inline", "--limit-pages", "2")

    shown = run("sync_checkpoint", client.name)
    report = json.loads(run("sync_checkpoint", client.name, "--json"))
    out = run("sync_checkpoint", client.name, "--reset")

    assert shown.startswith('products: checkpoint {"next_page": 3} (saved ')
    assert shown.endswith("the next run resumes there\n")
    assert report["checkpoint"] == {"next_page": 3} and report["checkpoint_at"]
    assert out == 'products: checkpoint {"next_page": 3} forgotten; the next run reads from the start\n'
    assert SyncClient.objects.get(pk=client.pk).checkpoint is None
    assert history(client) == [
        ("manage.py", 'Checkpoint reset (was {"next_page": 3}) (by manage.py sync_checkpoint)')
    ]
    assert run("sync_checkpoint", client.name, "--reset") == "products has no checkpoint; nothing to reset\n"
    assert len(history(client)) == 1, "nothing done, nothing logged"
    assert sync_run_now_here(client=client, who="test").status == "succeeded"
    assert api.stats()["pages"]["1"] == 2, "the run after the reset read the first page again"


@pytest.mark.django_db
def test_checkpoint_reset_is_refused_while_a_run_is_in_progress(make_client) -> None:
    client = make_client(queue=IDLE)
    SyncClient.objects.filter(pk=client.pk).update(checkpoint={"next_page": 4})
    SyncRun.objects.create(client=client, trigger="admin", status="running")

    error = fails("sync_checkpoint", client.name, "--reset")

    assert str(error) == "products has a run in progress; wait for it or cancel it first"
    assert SyncClient.objects.get(pk=client.pk).checkpoint == {"next_page": 4}


# --- sync_schedules ------------------------------------------------------------------------


@pytest.mark.django_db
def test_schedules_lists_next_fire_times_and_switches_them_all_for_beat(make_client) -> None:
    client = make_client(queue=IDLE)
    nightly = SyncSchedule.objects.create(
        client=client, kind="cron", cron="0 3 * * *", timezone="Europe/Berlin"
    )
    often = SyncSchedule.objects.create(client=client, kind="interval", every=10, period="minutes")

    listed = json.loads(run("sync_schedules", client.name, "--json"))["schedules"]
    off = run("sync_schedules", client.name, "--disable")

    assert [(s["id"], s["enabled"], s["beat_entry"]) for s in listed] == [
        (nightly.pk, True, f"sync:products:schedule-{nightly.pk}"),
        (often.pk, True, f"sync:products:schedule-{often.pk}"),
    ]
    next_nightly = datetime.fromisoformat(listed[0]["next"])
    assert next_nightly.astimezone(ZoneInfo("Europe/Berlin")).hour == 3
    assert timezone.now() < next_nightly <= timezone.now() + timedelta(days=1)
    next_often = datetime.fromisoformat(listed[1]["next"])
    assert timezone.now() < next_often <= timezone.now() + timedelta(minutes=10, seconds=5)
    assert off.splitlines() == [
        "disabled 2 schedules of products; beat follows",
        f"  schedule {nightly.pk}: cron '0 3 * * *' (Europe/Berlin): disabled",
        f"  schedule {often.pk}: every 10 minutes: disabled",
    ]
    assert not PeriodicTask.objects.filter(name__startswith="sync:products:", enabled=True).exists()
    again = json.loads(run("sync_schedules", client.name, "--disable", "--json"))
    assert again["changed"] == 0 and all(s["next"] is None for s in again["schedules"])
    run("sync_schedules", client.name, "--enable")
    assert PeriodicTask.objects.filter(name__startswith="sync:products:", enabled=True).count() == 2
    assert [m for _, m in history(client)] == [
        "Disabled 2 schedules (by manage.py sync_schedules)",
        "Enabled 2 schedules (by manage.py sync_schedules)",
    ]


@pytest.mark.django_db
def test_command_messages_count_one_thing_in_the_singular_and_more_in_the_plural(make_client) -> None:
    client = make_client(queue=IDLE)
    SyncSchedule.objects.create(client=client, kind="interval", every=10, period="minutes")
    make_client("prices", queue=IDLE)
    for external_id in ("a", "b"):
        failed(client, external_id, {"id": external_id})

    one_schedule = run("sync_schedules", client.name, "--disable").splitlines()[0]
    two_clients = run("connection_pause", client.connection.name, "--reason", "outage")
    two_failed = run("sync_failed", client.name).splitlines()[0]
    FailedRecord.objects.filter(client=client, external_id="b").delete()
    one_failed = run("sync_failed", client.name).splitlines()[0]

    assert one_schedule == "disabled 1 schedule of products; beat follows"
    # (connection_pause wrote after it; on SQLite the connection shares the client's id 1)
    assert "Disabled 1 schedule (by manage.py sync_schedules)" in [m for _, m in history(client)]
    assert two_clients == "paused fake-api until resumed: outage (2 clients affected)\n"
    assert (two_failed, one_failed) == ("products: 2 failed records", "products: 1 failed record")


# --- connections ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_connection_test_reports_status_or_the_classified_error_and_writes_nothing(
    api: FakeApi, connection_to: Connection
) -> None:
    ok = run("connection_test", connection_to.name, "--path", "/health")
    report = json.loads(run("connection_test", str(connection_to.pk), "--json"))
    flaky = fails("connection_test", connection_to.name, "--path", "/bad/flaky?key=cmd&fail=9&status=503")
    html = fails("connection_test", connection_to.name, "--path", "/bad/raw?kind=html")

    assert ok.startswith("fake-api: HTTP 200 in ") and ok.endswith(" ms\n")
    assert (report["ok"], report["status"], report["error_kind"]) == (True, 200, "")
    assert flaky.returncode == 1 and "TransientError: HTTP 503" in str(flaky)
    assert [p for _, p in api.hits()].count("/bad/flaky") == 1, "one request, no retries"
    assert html.returncode == 2 and "not usable JSON" in str(html)
    assert not LogEntry.objects.exists()
    assert str(fails("connection_test", "nope")) == "unknown connection 'nope' (known: fake-api)"


@pytest.mark.django_db(transaction=True)
def test_connection_test_never_prints_the_secret_and_fails_in_one_line(api: FakeApi) -> None:
    canary = "canary-Secret-4711"
    conn = Connection(name="locked", base_url=f"{api.url}/auth/query", auth_kind="api_key_query")
    conn.set_secret(canary)
    conn.save()

    result = manage("connection_test", "locked", "--path", "/products")

    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: locked: AuthError: ")
    assert canary not in result.stdout + result.stderr
    assert not LogEntry.objects.exists()


@pytest.mark.django_db
def test_pausing_a_connection_skips_its_clients_until_it_is_resumed(make_client) -> None:
    client = make_client(queue=IDLE)
    conn = client.connection

    out = run("connection_pause", conn.name, "--reason", "supplier outage", "--for", "2h")

    conn.refresh_from_db()
    assert conn.is_paused and conn.pause_reason == "supplier outage"
    assert abs((conn.paused_until - timezone.now()) - timedelta(hours=2)) < timedelta(seconds=5)
    assert out.startswith("paused fake-api until ") and out.endswith(
        ": supplier outage (1 client affected)\n"
    )
    with pytest.raises(
        ClientPaused, match=r"^client products is paused \(connection fake-api: supplier outage\)$"
    ):
        sync_run_now_here(client=client, who="test")
    assert history(conn)[0][1].startswith("Paused until ")

    assert run("connection_resume", conn.name) == "resumed fake-api (was paused: supplier outage)\n"
    conn.refresh_from_db()
    assert not conn.paused and conn.paused_until is None
    assert history(conn)[1] == (
        "manage.py",
        "Resumed (was paused: supplier outage) (by manage.py connection_resume)",
    )
    assert run("connection_resume", conn.name) == "fake-api is not paused\n"
    assert len(history(conn)) == 2
    assert str(fails("connection_pause", conn.name, "--reason", "  ")) == "a pause needs a reason"
    assert "invalid duration '2 hours'" in str(
        fails("connection_pause", conn.name, "--reason", "x", "--for", "2 hours")
    )


# --- plugins -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_plugins_lists_each_permission_and_grants_are_recorded_with_who() -> None:
    before = json.loads(run("plugins", "--json"))["plugins"]
    assert {p["plugin"] for p in before} >= {"data_syncer", "gateway"}
    (syncer,) = [p for p in before if p["plugin"] == "data_syncer"]
    assert {(p["resource"], p["state"]) for p in syncer["permissions"]} == {
        ("service:scheduler", "requested"),
        ("service:worker", "requested"),
        ("db.sync_*", "requested"),
        ("cache.sync:*", "requested"),
        ("plugin:gateway", "requested"),
    }

    out = run("plugin_ctl", "data_syncer", "grant", "--requested", "--by", "alice")
    run("plugin_ctl", "data_syncer", "refuse", "--resource", "plugin:gateway", "--by", "alice")

    assert "granted data_syncer: service:worker [execute]" in out.splitlines()
    states = dict(
        PluginPermission.objects.filter(plugin__name="data_syncer").values_list("resource", "state")
    )
    assert states["plugin:gateway"] == "refused" and list(states.values()).count("granted") == 4
    assert PluginAuditEntry.objects.filter(plugin="data_syncer", actor="alice", event="granted").count() == 5
    assert PluginAuditEntry.objects.filter(plugin="data_syncer", actor="alice", event="refused").count() == 1
    listing = run("plugins")
    assert "data_syncer 1.5.0 (trusted): enabled" in listing
    assert "  refused   plugin:gateway [execute] by alice at " in listing
    error = fails("plugin_ctl", "data_syncer", "grant", "--resource", "db.everything")
    assert str(error).startswith("data_syncer has no permission db.everything (it has: cache.sync:*, ")
    assert str(fails("plugin_ctl", "data_syncer", "grant")) == (
        "say which: --resource RESOURCE (repeatable) or --requested"
    )


@pytest.mark.django_db
def test_grants_are_all_or_nothing_when_one_cannot_be_given() -> None:
    error = fails("plugin_ctl", "restricted_cli_sample", "grant", "--requested")

    assert str(error) == (
        "restricted_cli_sample grant: A restricted plugin can only be granted exact resources (no '*')."
    )
    perms = PluginPermission.objects.filter(plugin__name="restricted_cli_sample")
    assert set(perms.values_list("state", flat=True)) == {"requested"}, "the exact one was not granted either"
    assert not PluginAuditEntry.objects.filter(plugin="restricted_cli_sample", event="granted").exists()
    run("plugin_ctl", "restricted_cli_sample", "grant", "--resource", "cache.cli_state")
    assert dict(perms.values_list("resource", "state")) == {
        "cache.cli_state": "granted",
        "db.sync_*": "requested",
    }


@pytest.mark.django_db
def test_plugin_ctl_starts_stops_disables_and_enables_with_an_audit_trail() -> None:
    refused = fails("plugin_ctl", "data_syncer", "start")
    assert str(refused).startswith("data_syncer start: permission denied: plugin 'data_syncer' may not")
    run("plugin_ctl", "data_syncer", "grant", "--requested")

    assert run("plugin_ctl", "data_syncer", "start") == "started data_syncer (on_start ran in this process)\n"
    job = PeriodicTask.objects.get(name="plugin:data_syncer:hourly_sync")
    assert job.enabled
    run("plugin_ctl", "data_syncer", "disable", "--by", "bob")
    assert not InstalledPlugin.objects.get(name="data_syncer").enabled
    assert not PeriodicTask.objects.get(pk=job.pk).enabled, "its jobs are paused"
    assert "plugin 'data_syncer' is disabled" in str(fails("plugin_call", "data_syncer", "force_sync"))
    assert run("plugin_ctl", "data_syncer", "stop") == (
        "data_syncer is disabled, so it is not running; nothing to stop\n"
    )
    run("plugin_ctl", "data_syncer", "enable", "--by", "bob")
    assert run("plugin_ctl", "data_syncer", "stop", "--by", "bob").startswith("stopped data_syncer")

    events = list(
        PluginAuditEntry.objects.filter(plugin="data_syncer", actor__in=["manage.py plugin_ctl", "bob"])
        .exclude(event="granted")
        .order_by("pk")
        .values_list("event", "actor")
    )
    assert events == [
        ("started", "manage.py plugin_ctl"),
        ("disabled", "bob"),
        ("enabled", "bob"),
        ("stopped", "bob"),
    ]
    assert str(fails("plugin_ctl", "nope", "start")).startswith("nope start: unknown plugin 'nope' (known: ")


@pytest.mark.django_db
def test_plugin_ctl_configure_goes_through_the_schema() -> None:
    bad = fails("plugin_ctl", "gateway", "configure", "--config", '{"max_pages": "many"}')
    assert str(bad).startswith("gateway configure: max_pages: ")
    assert "not valid JSON" in str(fails("plugin_ctl", "gateway", "configure", "--config", "{oops"))
    assert (
        str(fails("plugin_ctl", "gateway", "configure"))
        == "--config goes with configure, and configure needs it"
    )

    out = run("plugin_ctl", "gateway", "configure", "--config", '{"max_pages": 3}', "--by", "alice")

    row = InstalledPlugin.objects.get(name="gateway")
    assert row.config == {"max_pages": 3, "max_items": 100_000}
    assert out.startswith("configured gateway: {")
    assert PluginAuditEntry.objects.get(plugin="gateway", event="configured").actor == "alice"
    assert history(row) == [("manage.py", "Changed config. (by alice)")]


# --- exit codes from a real manage.py ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_errors_are_one_line_on_stderr_and_a_non_zero_exit(make_client) -> None:
    client = make_client(queue=IDLE)

    nothing = manage("sync_cancel", client.name)
    unknown = manage("sync_failed", "nope", "--json")

    assert nothing.returncode == 1 and nothing.stdout == ""
    assert nothing.stderr.strip().splitlines() == [
        "CommandError: products has no queued or running run to cancel"
    ]
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr.strip().splitlines() == [
        "CommandError: unknown sync client 'nope' (known: products)"
    ]


# --- the commands that came before log like the admin too --------------------------------


@pytest.mark.django_db
def test_pause_disable_disables_until_resumed_and_refuses_an_end(make_client) -> None:
    client = make_client(queue=IDLE)

    assert "--disable lasts until resumed" in str(
        fails("sync_pause", client.name, "--disable", "--for", "1h")
    )
    out = run("sync_pause", client.name, "--disable", "--reason", "retired", "--by", "alice")

    client.refresh_from_db()
    assert out.strip() == f"disabled {client.name} until resumed: retired"
    assert (client.state, client.pause_reason, client.paused_until) == ("disabled", "retired", None)
    assert [m for _, m in history(client)] == ["Disabled: retired (by alice)"]


@pytest.mark.django_db
def test_pause_resume_and_run_now_from_the_shell_are_in_the_clients_history(make_client) -> None:
    client = make_client(queue=IDLE)

    run("sync_pause", client.name, "--reason", "maintenance", "--for", "1h", "--by", "alice")
    run("sync_resume", client.name)
    run("sync_run", client.name)

    queued = SyncRun.objects.get(client=client)
    messages = [m for _, m in history(client)]
    assert messages[0].startswith("Paused until ") and messages[0].endswith(": maintenance (by alice)")
    assert messages[1:] == [
        "Resumed (missed runs skipped) (by manage.py sync_resume)",
        f"Run now: queued run #{queued.pk} (by manage.py sync_run)",
    ]
