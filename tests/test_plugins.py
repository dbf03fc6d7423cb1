"""Plugins: manifests recorded as requests, grants checked on every service call (fail-closed,
audited), wildcards, config schemas, the scheduler, cache locks and `plugin_call` errors.
The end-to-end runs with a worker and the fake API are in test_plugins_e2e.py."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from gateway.models import Connection
from syncers.models.plugins import (
    InstalledPlugin,
    PluginAuditEntry,
    PluginPermission,
    PluginRun,
    SyncLog,
)
from syncers.plugins import (
    JobConflict,
    Manifest,
    Permission,
    Plugin,
    PluginError,
    PluginPermissionDenied,
    UnknownAction,
    UnknownTable,
    UnknownTask,
    register,
)
from syncers.plugins.context import PluginContext
from syncers.plugins.host import instance
from syncers.plugins.manifest import matches
from syncers.plugins.operations import (
    permission_decide,
    plugin_configure,
    plugin_set_enabled,
    plugin_start,
    plugin_stop,
)
from syncers.plugins.status import plugins_status

from .processes import ROOT, child_env


@register
class RestrictedSample(Plugin):
    """A restricted plugin, registered in this test process only."""

    manifest = Manifest(
        name="restricted_sample",
        version="0.1.0",
        mode="restricted",
        permissions=(Permission("db.sync_*", "read"),),
    )


def grant(plugin: str, resource: str | None = None, *, actions: str | None = None) -> None:
    """Grant a plugin's requested permissions (one, or all), or add a grant by hand."""
    row = InstalledPlugin.objects.get(name=plugin)
    if actions is not None:
        perm, _ = PluginPermission.objects.get_or_create(
            plugin=row, resource=resource, defaults={"actions": actions}
        )
        permission_decide(permission=perm, grant=True, who="tester")
        return
    perms = row.permissions.all() if resource is None else row.permissions.filter(resource=resource)
    for perm in perms:
        permission_decide(permission=perm, grant=True, who="tester")


def withdraw(plugin: str, resource: str) -> None:
    perm = PluginPermission.objects.get(plugin__name=plugin, resource=resource)
    permission_decide(permission=perm, grant=False, who="tester")


# --- Grammar ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("db.sync_*", "db.sync_logs", True),
        ("db.sync_*", "db.syncers_syncclient", False),
        ("cache.sync:*", "cache.sync:active_lock", True),
        ("cache.sync:*", "cache.other", False),
        ("gateway:fake-*", "gateway:fake-api", True),
        ("gateway:*", "plugin:gateway", False),
        ("service:*", "service:worker", True),
        ("*", "db.anything", True),
        ("plugin:gateway", "plugin:gateway2", False),
        ("db.sync.logs", "db.syncXlogs", False),  # '.' is literal, not a regex wildcard
    ],
)
def test_resource_patterns_match_with_star_wildcards_only(
    pattern: str, resource: str, expected: bool
) -> None:
    assert matches(pattern, resource) is expected


# --- Discovery and grants -----------------------------------------------------------------


@pytest.mark.django_db
def test_discovery_records_what_each_plugin_requests_as_requested_not_granted() -> None:
    requested = set(
        PluginPermission.objects.filter(plugin__name="data_syncer").values_list(
            "resource", "actions", "state"
        )
    )
    assert requested == {
        ("service:scheduler", "*", "requested"),
        ("service:worker", "execute", "requested"),
        ("db.sync_*", "read,write", "requested"),
        ("cache.sync:*", "*", "requested"),
        ("plugin:gateway", "execute", "requested"),
    }
    row = InstalledPlugin.objects.get(name="data_syncer")
    assert (row.version, row.mode, row.actions) == ("1.5.0", "trusted", ["force_sync"])


@pytest.mark.django_db(transaction=True)
def test_an_ungranted_plugin_is_refused_every_service_and_each_attempt_is_logged(caplog) -> None:
    ctx = PluginContext("data_syncer")
    attempts = [
        (
            lambda: ctx.scheduler.add_job("j", call="hourly_sync", cron="0 * * * *"),
            "service:scheduler",
            "write",
        ),
        (lambda: ctx.cache.lock("sync:active_lock", 300), "cache.sync:active_lock", "write"),
        (lambda: ctx.db.table("sync_logs").count(), "db.sync_logs", "read"),
        (lambda: ctx.worker.send("tasks.sync:process_batch", {}), "service:worker", "execute"),
        (lambda: ctx.registry.call("gateway", "fetch_raw_data"), "plugin:gateway", "execute"),
        (lambda: ctx.gateway.session("fake-api"), "gateway:fake-api", "read"),
    ]
    for attempt, resource, action in attempts:
        with pytest.raises(PluginPermissionDenied) as denied:
            attempt()
        assert (
            str(denied.value)
            == f"permission denied: plugin 'data_syncer' may not {action} '{resource}' (no grant)"
        )

    audited = set(PluginAuditEntry.objects.filter(event="denied").values_list("plugin", "resource", "action"))
    assert audited >= {("data_syncer", r, a) for _, r, a in attempts}
    assert "permission denied: plugin 'data_syncer' may not write 'service:scheduler'" in caplog.text
    assert not PeriodicTask.objects.filter(name__startswith="plugin:data_syncer:").exists()
    assert not PluginRun.objects.filter(kind="task").exists()


@pytest.mark.django_db(transaction=True)
def test_only_a_context_the_host_made_loads_other_plugins_for_a_call() -> None:
    # The host hands its loader to each context it makes (the registry service is below the
    # host and does not import it); a context made anywhere else refuses, naming why.
    grant("data_syncer", "plugin:gateway")
    with pytest.raises(PluginError, match="plugin 'data_syncer' has no plugin host to load 'gateway'"):
        PluginContext("data_syncer").registry.call("gateway", "fetch_raw_data")


@pytest.mark.django_db(transaction=True)
def test_requested_and_refused_permissions_do_not_count_only_grants_do() -> None:
    table = PluginContext("data_syncer").db.table("sync_logs")
    withdraw("data_syncer", "db.sync_*")  # refused
    with pytest.raises(PluginPermissionDenied):
        table.count()

    grant("data_syncer", "db.sync_*")

    assert table.count() == 0
    perm = PluginPermission.objects.get(plugin__name="data_syncer", resource="db.sync_*")
    assert perm.decided_by == "tester" and perm.decided_at is not None
    assert PluginAuditEntry.objects.filter(event="granted", actor="tester", resource="db.sync_*").exists()


@pytest.mark.django_db(transaction=True)
def test_wildcard_grants_cover_what_they_match_and_nothing_else(connection_to: Connection) -> None:
    ctx = PluginContext("gateway")
    Connection.objects.create(name="other-api", base_url=connection_to.base_url)
    grant("gateway", "gateway:fake-*", actions="read")  # narrower than the requested gateway:*

    with ctx.gateway.session("fake-api") as session:
        assert session.get_json("/products", params={"per_page": 1})["data"]
        with pytest.raises(PluginPermissionDenied, match="may not write 'gateway:fake-api'"):
            session.post_json("/webhook", {})  # granted read, not write
    with pytest.raises(PluginPermissionDenied, match="'gateway:other-api'"):
        ctx.gateway.session("other-api")

    data = PluginContext("data_syncer")
    grant("data_syncer", "db.sync_*", actions="read")  # the requested read,write row, granted as is
    assert data.db.table("sync_items").count() == 0
    with pytest.raises(UnknownTable, match="'syncers_syncclient' is not open to plugins"):
        data.db.table("syncers_syncclient")


@pytest.mark.django_db
def test_a_restricted_plugin_can_only_be_granted_exact_resources() -> None:
    perm = PluginPermission.objects.get(plugin__name="restricted_sample", resource="db.sync_*")
    with pytest.raises(ValidationError, match="only be granted exact resources"):
        permission_decide(permission=perm, grant=True, who="tester")

    grant("restricted_sample", "db.sync_logs", actions="read")

    table = PluginContext("restricted_sample").db.table("sync_logs")
    assert table.count() == 0
    PluginPermission.objects.filter(pk=perm.pk).update(state="granted")  # written around the model
    with pytest.raises(PluginPermissionDenied):
        PluginContext("restricted_sample").db.table("sync_progress").count()


@pytest.mark.django_db
def test_db_lookups_cannot_join_into_other_tables() -> None:
    grant("data_syncer", "db.sync_*")
    logs = PluginContext("data_syncer").db.table("sync_logs")
    with pytest.raises(Exception, match="not a column"):
        logs.filter(sync__lock_token="x")
    assert logs.filter(sync_id__isnull=True) == []


# --- Config schema ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_config_that_breaks_the_schema_is_refused_at_the_config_field() -> None:
    row = InstalledPlugin.objects.get(name="data_syncer")
    row.config = {"connection": "", "batch_size": 0, "colour": "red"}

    with pytest.raises(ValidationError) as refused:
        row.full_clean()

    assert refused.value.message_dict == {
        "config": [
            "colour: unknown option",
            "connection: must not be empty",
            "batch_size: must be at least 1",
        ]
    }


@pytest.mark.django_db
def test_the_admin_shows_a_config_error_at_the_field_and_saves_a_good_config(admin_client) -> None:
    row = InstalledPlugin.objects.get(name="data_syncer")
    url = f"/admin/syncers/installedplugin/{row.pk}/change/"
    form = {
        "enabled": "on",
        "config": json.dumps({"connection": "fake-api", "page_size": 5000}),
        "permissions-TOTAL_FORMS": "0",
        "permissions-INITIAL_FORMS": "0",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["config"] == ["page_size: must be at most 1000"]

    form["config"] = json.dumps({"connection": "fake-api"})
    assert admin_client.post(url, form).status_code == 302
    row.refresh_from_db()
    assert row.config["connection"] == "fake-api" and row.config["batch_size"] == 100  # defaults filled in


# --- Scheduler ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_on_start_registers_exactly_one_hourly_job_in_beat_however_often_it_runs() -> None:
    grant("data_syncer")
    before = PeriodicTasks.last_change()

    plugin_start(name="data_syncer", who="tester")
    plugin_start(name="data_syncer", who="tester")

    task = PeriodicTask.objects.get(name__startswith="plugin:data_syncer:")
    assert task.name == "plugin:data_syncer:hourly_sync" and task.enabled
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_month) == ("0", "*", "*")
    assert task.task == "plugins.run_job"
    assert json.loads(task.kwargs) == {"plugin": "data_syncer", "job": "hourly_sync", "call": "hourly_sync"}
    assert PeriodicTasks.last_change() != before, "saved through .save(), so beat notices"
    (job,) = PluginContext("data_syncer").scheduler.list_jobs()
    next_run = datetime.fromisoformat(job["next_run"])
    assert next_run.minute == 0 and timezone.now() < next_run <= timezone.now() + timedelta(hours=1)


@pytest.mark.django_db
def test_scheduler_pauses_resumes_removes_and_can_refuse_a_duplicate_job_id() -> None:
    grant("data_syncer")
    scheduler = PluginContext("data_syncer").scheduler
    scheduler.add_job("often", call="hourly_sync", every=30, period="minutes")

    with pytest.raises(JobConflict, match="already has a job 'often'"):
        scheduler.add_job("often", call="hourly_sync", every=5, period="minutes", replace=False)
    scheduler.add_job("often", call="hourly_sync", every=5, period="minutes")  # replaces (the default)
    assert [j["schedule"] for j in scheduler.list_jobs()] == ["every 5 minutes"]

    assert scheduler.pause_job("often")
    assert scheduler.list_jobs()[0]["enabled"] is False and scheduler.list_jobs()[0]["next_run"] is None
    assert scheduler.resume_job("often") and scheduler.list_jobs()[0]["enabled"] is True
    assert scheduler.remove_job("often") and scheduler.list_jobs() == []
    with pytest.raises(Exception, match="5 fields"):
        scheduler.add_job("bad", call="hourly_sync", cron="0 *")


# --- Cache locks --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_cache_lock_is_taken_atomically_by_exactly_one_of_many_racers() -> None:
    grant("data_syncer")
    cache = PluginContext("data_syncer").cache
    start, winners, key = threading.Barrier(8), [], f"sync:race-{uuid.uuid4().hex}"

    def race() -> None:
        try:
            start.wait()
            if cache.lock(key, ttl=30):
                winners.append(1)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(winners) == 1


@pytest.mark.django_db(transaction=True)
def test_on_stop_clears_the_sync_lock() -> None:
    grant("data_syncer")
    cache = PluginContext("data_syncer").cache
    cache.clear_lock("sync:active_lock")  # Redis outlives test databases
    held = cache.lock("sync:active_lock", ttl=300)
    assert held is not None and cache.lock("sync:active_lock", ttl=300) is None
    assert cache.lock_holder("sync:active_lock") == held.token

    plugin_stop(name="data_syncer", who="tester")

    assert cache.lock_holder("sync:active_lock") is None
    assert cache.lock("sync:active_lock", ttl=300).release()


@pytest.mark.django_db(transaction=True)
def test_cache_values_are_shared_namespaced_and_expire() -> None:
    grant("data_syncer")
    cache = PluginContext("data_syncer").cache
    cache.set("sync:last", {"n": 1})
    cache.set("sync:short", 1, ttl=0.01)
    assert cache.get("sync:last") == {"n": 1}
    threading.Event().wait(0.05)
    assert cache.get("sync:short", "gone") == "gone"
    with pytest.raises(PluginPermissionDenied):
        cache.get("other")


# --- Actions and plugin_call --------------------------------------------------------------


@pytest.mark.django_db
def test_an_unknown_action_is_an_error_and_recorded() -> None:
    with pytest.raises(UnknownAction, match="has no action 'explode' \\(actions: force_sync\\)"):
        instance("data_syncer").handle("explode", {})

    with pytest.raises(CommandError, match="plugin 'data_syncer' has no action 'explode'"):
        call_command("plugin_call", "data_syncer", "explode", "--payload", "{}")
    run = PluginRun.objects.get(kind="action", name="explode")
    assert run.status == "failed" and "has no action" in run.error


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope", "go"], "unknown plugin 'nope' (known: data_syncer, gateway"),
        (
            ["data_syncer", "force_sync", "--payload", "{bad"],
            "--payload is not valid JSON: Expecting property",
        ),
        (["data_syncer", "force_sync", "--payload", "[1]"], "--payload must be a JSON object, not list"),
    ],
)
def test_plugin_call_errors_are_one_clear_line(argv: list[str], message: str) -> None:
    with pytest.raises(CommandError) as failed:
        call_command("plugin_call", *argv)
    assert message in str(failed.value) and "\n" not in str(failed.value)


@pytest.mark.django_db(transaction=True)
def test_plugin_call_exits_non_zero_with_one_line_on_stderr() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "plugin_call", "data_syncer", "force_sync", "--payload", "{oops"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("CommandError: --payload is not valid JSON")
    assert result.stdout == ""


@pytest.mark.django_db
def test_an_unconfigured_plugin_says_so_and_writes_nothing() -> None:
    grant("data_syncer")
    grant("gateway")
    with pytest.raises(
        CommandError, match="data_syncer is not configured correctly \\(connection: is required\\)"
    ):
        call_command("plugin_call", "data_syncer", "force_sync", stdout=StringIO())
    assert not SyncLog.objects.exists()


@pytest.mark.django_db
def test_sending_an_unknown_task_name_is_a_clear_error() -> None:
    grant("data_syncer")
    with pytest.raises(
        UnknownTask, match=r"unknown plugin task .tasks\.sync:nope. \(known: tasks\.sync:process_batch"
    ):
        PluginContext("data_syncer").worker.send("tasks.sync:nope", {"x": 1})


@pytest.mark.django_db
def test_a_config_is_saved_only_through_the_schema() -> None:
    with pytest.raises(ValidationError):
        plugin_configure(name="gateway", config={"max_pages": "many"}, who="tester")
    row = plugin_configure(name="gateway", config={"max_pages": 3}, who="tester")
    assert row.config == {"max_pages": 3, "max_items": 100_000}


@pytest.mark.django_db
def test_an_operator_grants_from_the_admin_and_the_decision_is_recorded(admin_client, admin_user) -> None:
    perms = PluginPermission.objects.filter(plugin__name="data_syncer")
    response = admin_client.post(
        "/admin/syncers/pluginpermission/",
        {"action": "grant", "_selected_action": [p.pk for p in perms]},
    )
    assert response.status_code == 302
    assert set(perms.values_list("state", "decided_by")) == {("granted", admin_user.username)}
    assert PluginAuditEntry.objects.filter(event="granted", actor=admin_user.username).count() == 5
    assert PluginContext("data_syncer").db.table("sync_logs").count() == 0


@pytest.mark.django_db
def test_the_admin_calls_an_action_and_shows_a_refusal(admin_client) -> None:
    row = InstalledPlugin.objects.get(name="data_syncer")
    url = f"/admin/syncers/installedplugin/{row.pk}/call/"
    assert b"force_sync" in admin_client.get(url).content

    response = admin_client.post(url, {"action": "force_sync", "payload": "{}"}, follow=True)

    shown = [str(m) for m in response.context["messages"]]
    assert shown == [
        "plugin data_syncer is not configured correctly (connection: is required); fix it in the admin"
    ]
    assert PluginRun.objects.get(kind="action", name="force_sync").requested_by == "admin"


@pytest.mark.django_db
def test_a_disabled_plugin_refuses_calls_and_its_jobs_are_paused() -> None:
    grant("data_syncer")
    plugin_start(name="data_syncer", who="tester")

    plugin_set_enabled(name="data_syncer", enabled=False, who="tester")

    with pytest.raises(CommandError, match="plugin 'data_syncer' is disabled"):
        call_command("plugin_call", "data_syncer", "force_sync")
    assert not PeriodicTask.objects.get(name="plugin:data_syncer:hourly_sync").enabled
    (status,) = [s for s in plugins_status() if s["plugin"] == "data_syncer"]
    assert (status["enabled"], status["granted"], status["requested"]) == (False, 5, 0)


@pytest.mark.django_db(transaction=True)  # plugins_start_all closes the connection, as in a worker
def test_a_fresh_install_shows_the_ungranted_plugin_as_waiting_not_as_an_error(caplog) -> None:
    from syncers.plugins.operations import plugins_start_all, plugins_stop_all

    with caplog.at_level("INFO", logger="syncers"):
        plugins_start_all()  # a worker starting on a fresh install: nothing granted yet
        plugins_stop_all()
    out = StringIO()
    call_command("plugins", stdout=out)

    line = next(x for x in out.getvalue().splitlines() if x.startswith("data_syncer "))
    assert "waiting for an operator to grant write on 'service:scheduler' (Plugin permissions)" in line, line
    assert "last error" not in line and "permission denied" not in line
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert not errors, errors
