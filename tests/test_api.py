"""The HTTP API (/api/): bearer tokens, the admin's permission checks and audit entries, JSON
errors that name the field, no secrets in responses, health as `sync_status --json`.
Run now through a real worker: test_api_e2e.py; the schema fuzzed: test_api_schema.py."""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from catalog.models import Product
from gateway.models import Connection
from syncers.api.tokens import api_token_create, token_digest
from syncers.models import (
    ApiToken,
    ClientGrant,
    FailedRecord,
    PendingDeletion,
    SyncClient,
    SyncedRecord,
    SyncRun,
)
from syncers.models.plugins import InstalledPlugin, PluginAuditEntry, PluginRun

from .processes import Service, child_env
from .test_destinations import DESTINATION

SECRET = "sk-live-CANARY-0123456789"
pytestmark = pytest.mark.django_db


def staff(django_user_model, name: str, *codenames: str):
    user = django_user_model.objects.create_user(name, f"{name}@example.com", "pw-unused-here", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


class Api:
    """Django's test client speaking JSON with a bearer token."""

    def __init__(self, token: str | None) -> None:
        self.http = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, **params: Any):
        return self.http.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any = None, *, raw: str | None = None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.http.post(path, data, content_type="application/json", headers=self.headers)


def api_for(user) -> Api:
    return Api(api_token_create(user=user, name="tests")[1])


@pytest.fixture
def orders(make_client) -> SyncClient:
    return make_client("orders")


@pytest.fixture
def operator(django_user_model):
    """May do everything on every client (the model-wide permissions)."""
    return staff(
        django_user_model,
        "operator",
        "view_syncclient",
        "change_syncclient",
        "run_syncclient",
        "pause_syncclient",
        "cancel_syncclient",
        "retry_syncclient",
        "view_syncrun",
        "view_failedrecord",
    )


# --- Tokens -------------------------------------------------------------------------------


def test_a_token_is_printed_once_stored_as_its_digest_and_works_until_revoked(operator, orders) -> None:
    out, err = StringIO(), StringIO()
    call_command("sync_api_token", "create", "operator", "--name", "ci", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    token = ApiToken.objects.get()

    assert raw.startswith("xcs_") and len(raw) >= 4 + 43  # 32 random bytes, URL-safe base64
    assert token.key_hash == token_digest(raw) and raw not in token.key_hash
    assert token.prefix == raw[:12] and "not shown again" in err.getvalue()
    assert Api(raw).get("/api/clients/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None

    listing = StringIO()
    call_command("sync_api_token", "list", stdout=listing)
    assert token.prefix in listing.getvalue() and raw not in listing.getvalue()

    call_command("sync_api_token", "revoke", str(token.pk), stdout=StringIO())
    refused = Api(raw).get("/api/clients/")
    assert refused.status_code == 401
    assert refused.json() == {"error": "Authorization: unknown, revoked or expired token", "field": None}
    assert refused["WWW-Authenticate"] == "Bearer"


def test_an_expired_token_and_a_made_up_one_are_refused(operator) -> None:
    _, raw = api_token_create(user=operator, name="short", expires_at=timezone.now() + timedelta(hours=1))
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert Api(raw).get("/api/clients/").status_code == 401
    assert Api("xcs_" + "A" * 43).get("/api/clients/").status_code == 401
    assert Api(None).get("/api/clients/").status_code == 401


def test_the_token_command_refuses_an_unknown_user_and_an_ambiguous_revoke() -> None:
    with pytest.raises(CommandError, match="unknown user 'nobody'"):
        call_command("sync_api_token", "create", "nobody", "--name", "x")
    with pytest.raises(CommandError, match="no token matches 'xcs_nope'"):
        call_command("sync_api_token", "revoke", "xcs_nope")


def test_a_token_of_a_non_staff_or_inactive_user_may_not_use_the_api(django_user_model) -> None:
    user = django_user_model.objects.create_user("outsider", is_staff=False)
    user.user_permissions.add(*Permission.objects.filter(codename="view_syncclient"))
    api = api_for(user)
    assert api.get("/api/clients/").status_code == 403

    user.is_staff, user.is_active = True, False
    user.save()
    assert api.get("/api/clients/").status_code == 401


def test_the_admin_shows_a_new_token_once_and_stores_only_its_digest(admin_client, operator) -> None:
    response = admin_client.post(
        "/admin/syncers/apitoken/add/",
        {"user": operator.pk, "name": "deploy", "expires_at_0": "", "expires_at_1": ""},
    )

    assert response.status_code == 200, response.content[:500]
    raw = response.context["token"]
    assert raw in response.content.decode() and "not shown again" in response.content.decode()
    token = ApiToken.objects.get(name="deploy")
    assert token.key_hash == token_digest(raw)
    listing = admin_client.get("/admin/syncers/apitoken/").content.decode()
    assert token.prefix in listing and raw not in listing
    assert Api(raw).get("/api/clients/").status_code == 200

    admin_client.post("/admin/syncers/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert Api(raw).get("/api/clients/").status_code == 401


# --- Permissions: exactly the admin's -----------------------------------------------------


def test_a_pause_only_token_can_pause_and_resume_and_nothing_else(
    django_user_model, orders, make_client
) -> None:
    other = make_client("products")
    pauser = staff(django_user_model, "pauser")
    ClientGrant.objects.create(client=orders, user=pauser, can_pause=True)
    run = SyncRun.objects.create(client=orders, trigger="admin")
    FailedRecord.objects.create(client=orders, external_id="7", payload='{"id": 7}', reason="test")
    api = api_for(pauser)

    listed = api.get("/api/clients/").json()
    assert [c["name"] for c in listed["results"]] == ["orders"] and listed["results"][0]["actions"] == [
        "pause"
    ]
    paused = api.post("/api/clients/orders/pause/", {"reason": "vendor maintenance"})
    assert paused.status_code == 200, paused.json()
    assert paused.json()["state"] == "paused" and paused.json()["paused_by"] == "pauser"
    assert api.post("/api/clients/orders/resume/").status_code == 200

    refused = {
        "run": api.post("/api/clients/orders/run/"),
        "retry": api.post("/api/clients/orders/failed-records/retry/"),
        "cancel": api.post(f"/api/runs/{run.pk}/cancel/"),
        "resume and run": api.post("/api/clients/orders/resume/", {"run_now": True}),
        "pause another client": api.post("/api/clients/products/pause/", {"reason": "x"}),
    }
    assert {what: r.status_code for what, r in refused.items()} == dict.fromkeys(refused, 403)
    assert refused["run"].json() == {"error": "pauser may not run client orders", "field": None}
    assert refused["retry"].json()["error"] == "pauser may not retry client orders"
    assert not SyncRun.objects.exclude(pk=run.pk).exists() and FailedRecord.objects.count() == 1
    assert SyncClient.objects.get(pk=other.pk).state == "active"
    run.refresh_from_db()
    assert not run.cancel_requested and run.status == "queued"


def test_a_run_only_grant_runs_and_sees_its_run_but_not_other_clients(
    django_user_model, orders, make_client
) -> None:
    other = make_client("products")
    runner = staff(django_user_model, "runner")
    ClientGrant.objects.create(client=orders, user=runner, can_run=True)
    other_run = SyncRun.objects.create(client=other, trigger="admin")
    api = api_for(runner)

    queued = api.post("/api/clients/orders/run/")

    assert queued.status_code == 202, queued.json()
    run = SyncRun.objects.get(pk=queued.json()["run"])
    assert (run.trigger, run.triggered_by) == ("api", "runner")
    assert api.get(f"/api/runs/{run.pk}/").json()["status"] == "queued"
    assert api.get(f"/api/runs/{other_run.pk}/").status_code == 403
    assert api.get("/api/clients/products/").status_code == 403
    assert api.post("/api/clients/orders/pause/", {"reason": "x"}).status_code == 403
    assert api.get("/api/health/").status_code == 403  # health shows every client: view permission


# --- Run now, pause, resume, cancel, retry: the services, audited like the admin -----------


def test_run_now_on_a_paused_client_is_refused_with_the_reason_unless_forced(operator, orders) -> None:
    api = api_for(operator)
    api.post("/api/clients/orders/pause/", {"reason": "vendor maintenance"})

    refused = api.post("/api/clients/orders/run/")

    assert refused.status_code == 409
    assert refused.json()["reason"] == "paused by operator: vendor maintenance"
    assert "send force: true" in refused.json()["error"]
    assert not SyncRun.objects.exists()
    forced = api.post("/api/clients/orders/run/", {"force": True})
    assert forced.status_code == 202 and forced.json()["forced"] is True
    assert SyncClient.objects.get(pk=orders.pk).state == "paused", "forcing one run keeps the pause"


def test_forcing_a_run_past_a_pause_needs_the_pause_permission_as_well_as_run(
    django_user_model, orders
) -> None:
    """In the admin a run-only user cannot run a paused client (only who may pause can resume,
    then run); the API's force is no way round that."""
    runner, keeper = staff(django_user_model, "runner"), staff(django_user_model, "keeper")
    ClientGrant.objects.create(client=orders, user=runner, can_run=True)
    ClientGrant.objects.create(client=orders, user=keeper, can_run=True, can_pause=True)
    api_for(keeper).post("/api/clients/orders/pause/", {"reason": "vendor maintenance"})

    refused = api_for(runner).post("/api/clients/orders/run/", {"force": True})

    assert refused.status_code == 403
    assert (
        refused.json()["error"]
        == "runner may not force a run of client orders past its pause (needs pause too)"
    )
    assert not SyncRun.objects.exists()
    forced = api_for(keeper).post("/api/clients/orders/run/", {"force": True})
    assert forced.status_code == 202 and forced.json()["forced"] is True


def test_every_write_leaves_the_admins_log_entry_under_the_tokens_user(operator, orders) -> None:
    api = api_for(operator)
    FailedRecord.objects.create(client=orders, external_id="7", payload='{"id": 7}', reason="test")
    until = (timezone.now() + timedelta(hours=2)).isoformat()

    assert api.post("/api/clients/orders/failed-records/retry/").status_code == 200
    SyncRun.objects.filter(client=orders).update(status="succeeded")  # the retry run, as if done
    run = api.post("/api/clients/orders/run/").json()["run"]
    assert api.post(f"/api/runs/{run}/cancel/").json()["status"] == "cancelled"
    assert (
        api.post("/api/clients/orders/pause/", {"reason": "maintenance", "until": until}).status_code == 200
    )
    assert api.post("/api/clients/orders/resume/", {"run_now": True}).json()["run"] is not None

    entries = list(LogEntry.objects.filter(object_id=str(orders.pk)).order_by("pk"))
    expected = [
        "Retry failed records: 1 re-staged in run #",
        f"Run now: queued run #{run} (API token 'tests')",
        f"Cancel run #{run}: cancelled (API token 'tests')",
        "Paused until ",
        "Resumed, queued run #",
    ]
    assert [e.change_message[: len(s)] for e, s in zip(entries, expected, strict=True)] == expected
    assert all(e.user == operator and e.change_message.endswith("(API token 'tests')") for e in entries)


def test_cancel_of_an_ended_run_is_a_conflict_and_an_unknown_run_is_404(operator, orders) -> None:
    run = SyncRun.objects.create(client=orders, trigger="admin", status="succeeded")
    api = api_for(operator)

    ended = api.post(f"/api/runs/{run.pk}/cancel/")

    assert (
        ended.status_code == 409 and ended.json()["error"] == f"run #{run.pk} has already ended (succeeded)"
    )
    assert api.get("/api/runs/999999/").json() == {"error": "run: no run #999999", "field": None}


def test_failed_records_are_listed_with_payloads_and_retried_by_id(operator, orders) -> None:
    keep = FailedRecord.objects.create(
        client=orders, external_id="7", payload='{"id": 7}', reason="bad price"
    )
    FailedRecord.objects.create(client=orders, external_id="8", payload='{"id": 8}', reason="bad name")
    api = api_for(operator)

    listed = api.get("/api/clients/orders/failed-records/", limit=1).json()
    retried = api.post("/api/clients/orders/failed-records/retry/", {"ids": [keep.pk + 1]}).json()

    assert listed["total"] == 2 and [f["payload"] for f in listed["failed"]] == [{"id": 8}]
    assert retried["staged"] == 1 and retried["superseded"] == 0
    assert SyncRun.objects.get(pk=retried["run"]).client == orders
    again = api.post("/api/clients/orders/failed-records/retry/")
    assert (
        again.status_code == 409
        and again.json()["error"] == f"orders: run #{retried['run']} is running; retry once it has finished"
    )


def test_held_deletions_are_listed_and_approved_with_the_edit_permission_only(
    django_user_model, operator, make_client
) -> None:
    client = make_client(
        "catalog", handler="rest", config={"path": "/catalog/products"}, destination=DESTINATION
    )
    client.destination = {**DESTINATION, "on_missing": "delete"}
    client.save()
    for sku in ("A", "B"):
        product = Product.objects.create(sku=sku, name=sku, price=1, updated_at=timezone.now())
        SyncedRecord.objects.create(
            client=client, external_id=sku, data={}, source_seq=1, created_batch=1, target_pk=str(product.pk)
        )
    held = PendingDeletion.objects.create(
        client=client, keys=["A"], live_rows=2, reason="the listing came back empty", action="delete"
    )
    pauser = staff(django_user_model, "pauser", "view_syncclient", "pause_syncclient")

    waiting = api_for(operator).get("/api/clients/catalog/deletions/").json()["waiting"]
    refused = api_for(pauser).post(f"/api/clients/catalog/deletions/{held.pk}/approve/")
    approved = api_for(operator).post(f"/api/clients/catalog/deletions/{held.pk}/approve/")

    assert (waiting["id"], waiting["keys"], waiting["reason"]) == (
        held.pk,
        ["A"],
        "the listing came back empty",
    )
    assert refused.status_code == 403
    assert approved.json()["message"] == "Approved 1 deletion: 1 row deleted"
    assert list(Product.objects.values_list("sku", flat=True)) == ["B"]
    assert api_for(operator).post(f"/api/clients/catalog/deletions/{held.pk}/reject/").status_code == 409


def test_a_plugin_action_is_called_through_plugin_call_with_the_change_permission(
    django_user_model, operator
) -> None:
    plugin_admin = staff(django_user_model, "plugins", "change_installedplugin")

    refused = api_for(operator).post("/api/plugins/data_syncer/actions/force_sync", {})
    unknown = api_for(plugin_admin).post("/api/plugins/data_syncer/actions/explode", {})
    called = api_for(plugin_admin).post("/api/plugins/data_syncer/actions/force_sync", {})

    assert refused.status_code == 403
    assert unknown.status_code == 400 and unknown.json()["field"] == "action"
    # The same refusal the admin's "call an action" page shows: the plugin is not configured.
    assert called.status_code == 409
    assert called.json()["error"].startswith("plugin data_syncer is not configured correctly")
    assert PluginRun.objects.get(kind="action", name="force_sync").requested_by == "plugins"
    assert InstalledPlugin.objects.filter(name="data_syncer").exists()


def test_a_plugins_jobs_are_listed_to_its_viewers_and_paused_and_resumed_with_the_change_permission(
    django_user_model, operator
) -> None:
    """The scheduler documents' jobs(), pause_job and resume_job over HTTP, for an operator."""
    from syncers.plugins.context import PluginContext

    from .test_plugins import grant

    grant("data_syncer")
    scheduler = PluginContext("data_syncer").scheduler
    scheduler.add_job(
        "remind", call="hourly_sync", run_at="2030-01-01T18:00:00+01:00", kwargs={"trigger": "42"}
    )
    scheduler.add_job("hourly", call="hourly_sync", every=1, period="hours")
    viewer = staff(django_user_model, "viewer", "view_installedplugin")
    changer = staff(django_user_model, "changer", "change_installedplugin")

    listed = api_for(viewer).get("/api/plugins/data_syncer/jobs/")
    assert listed.status_code == 200
    assert listed.json() == {"plugin": "data_syncer", "jobs": scheduler.jobs()}
    assert listed.json()["jobs"][1]["kwargs"] == {"trigger": "42"}
    assert api_for(operator).get("/api/plugins/data_syncer/jobs/").status_code == 403
    assert api_for(viewer).post("/api/plugins/data_syncer/jobs/hourly/pause/").status_code == 403

    paused = api_for(changer).post("/api/plugins/data_syncer/jobs/hourly/pause/")
    assert paused.status_code == 200, paused.json()
    assert (paused.json()["id"], paused.json()["enabled"], paused.json()["next_run"]) == (
        "hourly",
        False,
        None,
    )
    resumed = api_for(changer).post("/api/plugins/data_syncer/jobs/hourly/resume/")
    assert resumed.json()["enabled"] is True and resumed.json()["next_run"]
    audited = PluginAuditEntry.objects.filter(plugin="data_syncer", actor="changer").order_by("pk")
    assert [e.event for e in audited] == ["job paused", "job resumed"]

    unknown = api_for(changer).post("/api/plugins/data_syncer/jobs/nope/pause/")
    assert (
        unknown.status_code == 404 and "has no job 'nope' (it has: hourly, remind)" in unknown.json()["error"]
    )
    assert api_for(changer).get("/api/plugins/nope/jobs/").status_code == 404


# --- Bad input: 4xx naming the field -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status", "field", "error"),
    [
        ("/api/clients/orders/pause/", {}, 400, "reason", "reason: This field is required."),
        ("/api/clients/orders/pause/", {"reason": "  "}, 400, "reason", "reason: This field may not be blank."),
        ("/api/clients/orders/pause/", {"reason": "x", "until": "2001-01-01T00:00:00Z"}, 400, "until",
         "until: the pause must end in the future"),
        ("/api/clients/orders/pause/", {"reason": "x", "until": "tomorrow"}, 400, "until", None),
        ("/api/clients/orders/run/", {"force": "maybe"}, 400, "force", "force: Must be a valid boolean."),
        ("/api/clients/orders/run/", [1, 2], 400, None, "send a JSON object"),
        ("/api/clients/orders/failed-records/retry/", {"ids": ["x"]}, 400, "ids.0",
         "ids.0: A valid integer is required."),
        ("/api/clients/nope/run/", {}, 404, None, "client: no sync client 'nope'"),
    ],
)  # fmt: skip
def test_bad_input_is_a_4xx_json_error_naming_the_field(
    operator, orders, path: str, body: Any, status: int, field: str | None, error: str | None
) -> None:
    response = api_for(operator).post(path, body)

    assert response.status_code == status, response.content
    assert response.json()["field"] == field
    if error:
        assert response.json()["error"] == error
    assert SyncClient.objects.get(pk=orders.pk).state == "active" and not SyncRun.objects.exists()


def test_malformed_json_and_form_bodies_are_refused_with_a_json_error(operator, orders) -> None:
    api = api_for(operator)
    broken = api.post("/api/clients/orders/pause/", raw="{reason")
    form = api.http.post("/api/clients/orders/pause/", {"reason": "x"}, headers=api.headers)

    assert broken.status_code == 400 and broken.json()["error"].startswith("JSON parse error")
    assert form.status_code == 415 and "multipart/form-data" in form.json()["error"]


# --- No secrets; health -------------------------------------------------------------------


def test_responses_never_contain_the_connections_secret_or_the_clients_config(operator, orders) -> None:
    connection = Connection.objects.get(pk=orders.connection_id)
    connection.auth_kind = Connection.AuthKind.BEARER
    connection.set_secret(SECRET)
    connection.save()
    orders.config = {**orders.config, "params": {"api_key": "cfg-" + SECRET}}
    orders.save()
    api = api_for(operator)

    bodies = [
        api.get(path).content.decode()
        for path in ("/api/clients/", "/api/clients/orders/", "/api/health/", "/api/schema/")
    ]

    assert all(SECRET not in body for body in bodies)
    assert "connection" not in json.loads(bodies[1]) and "config" not in json.loads(bodies[1])


def test_health_is_the_sync_status_document_with_503_where_sync_status_exits_1(operator, orders) -> None:
    api = api_for(operator)
    out = StringIO()
    with pytest.raises(CommandError) as status:
        call_command("sync_status", "--json", stdout=out)  # no beat, no worker here: unhealthy
    response = api.get("/api/health/")

    assert status.value.returncode == 1 and response.status_code == 503
    served, printed = response.json(), json.loads(out.getvalue())
    assert served.keys() == printed.keys() == {"healthy", "checks", "clients", "plugins", "plugin_tasks"}
    assert served["healthy"] is printed["healthy"] is False
    assert [c["name"] for c in served["checks"]] == [c["name"] for c in printed["checks"]]
    assert served["clients"] == printed["clients"]


def test_the_schema_and_the_docs_page_are_served_to_staff_without_a_cdn(admin_client, operator) -> None:
    schema = api_for(operator).get("/api/schema/", format="json").json()
    docs = admin_client.get("/api/docs/").content.decode()

    assert "/api/clients/{client}/run/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `sync_api_token create`.",
    }
    assert "swagger-ui" in docs and "/static/drf_spectacular_sidecar/" in docs
    assert "cdn" not in docs.lower() and "unpkg" not in docs
    assert Client().get("/api/schema/").status_code == 401
    assert Client().get("/api/docs/")["Location"] == "/admin/login/?next=/api/docs/"


@pytest.mark.django_db(transaction=True)
def test_without_a_database_the_api_answers_503_in_json_not_a_500() -> None:
    """A web process whose database is down cannot check a token: it says so (health checks
    scripts read a 503 as "unhealthy"), as JSON."""
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = (
        "from wsgiref.simple_server import make_server\n"
        "from xcoresite.wsgi import application\n"
        f"server = make_server('127.0.0.1', {port}, application)\n"
        "print('serving', flush=True)\n"
        "server.serve_forever()\n"
    )
    dead = child_env(DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere", DEBUG="true")
    web = Service("web-without-db", [sys.executable, "-c", serve], ready_marker="serving", env=dead)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/health/", headers={"Authorization": "Bearer xcs_" + "a" * 43}
        )
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=30)
        body = answer.value.read()  # before the server stops
    finally:
        web.stop()
    assert answer.value.code == 503
    assert json.loads(body) == {
        "error": "database unavailable: OperationalError",
        "field": None,
    }
