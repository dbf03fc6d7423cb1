"""What an attacker tried, refused: malformed headers never reach a 500 (the debug page showed
secrets), error pages mask secrets, replayed or redirected credentials, key rotation of every
encrypted field, per-client grants that reach no further, redirects that stay on the site."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
import yaml
from cryptography.fernet import Fernet
from django.contrib.auth.models import Permission
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.test import Client, override_settings
from django.urls import path
from django_celery_beat.models import PeriodicTask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.fields import EncryptedTextField, encrypted_fields
from gateway.models import Connection
from syncers.config_as_code import ConfigError, apply_config
from syncers.hooks import signed_headers
from syncers.models import ClientGrant, SyncClient, SyncRun
from syncers.models.plugins import PluginPermission, PluginRun
from syncers.plugins import PluginError
from syncers.plugins.host import run_job
from syncers.plugins.operations import permission_decide, plugin_start

from .processes import ROOT, child_env
from .test_admin_permissions import logged_in, staff
from .test_plugins import grant

HOOK_SECRET = "hook-secret-for-security-tests"

# --- 1. No 500 from any header an unauthenticated caller sends --------------------------------

# Header values as WSGI delivers them: any latin-1 text (a raw 0xE9 byte arrives as "é").
HEADER_VALUE = st.one_of(
    st.text(st.characters(min_codepoint=0, max_codepoint=255, exclude_characters="\r\n"), max_size=40),
    st.sampled_from(["Bearer \xe9", "sha256=\xff", "sha256=", "abc", "-1", "1e9", "99999999999999999999"]),
)
FUZZED = [
    "Authorization",
    "X-Xcoresite-Signature",
    "X-Xcoresite-Timestamp",
    "Content-Length",
    "Content-Type",
    "Cookie",
    "Host",
    "Accept-Language",
    "X-Forwarded-For",
    "Referer",
]


@pytest.fixture
def open_endpoints(make_client) -> list[tuple[str, str]]:
    client = make_client("hooked")
    client.set_hook_secret(HOOK_SECRET)
    client.save(update_fields=["hook_secret_ciphertext"])
    return [
        ("get", "/metrics"),
        ("post", "/hooks/hooked/"),
        ("post", "/hooks/nobody/"),
        ("get", "/admin/login/"),
        ("post", "/admin/login/"),
        ("get", "/admin/"),
        ("get", "/admin/syncers/syncrun/1/progress/"),
        ("get", "/"),
    ]


@pytest.mark.django_db
@override_settings(SYNC_METRICS_ENABLED=True, SYNC_METRICS_TOKEN="metrics-token")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=st.dictionaries(st.sampled_from(FUZZED), HEADER_VALUE, min_size=1, max_size=4))
def test_no_header_an_unauthenticated_caller_sends_gets_a_server_error(open_endpoints, headers) -> None:
    browser = Client(raise_request_exception=False)
    for method, url in open_endpoints:
        answer = (
            getattr(browser, method)(
                url, data=b'[{"id": 1}]', content_type="application/json", headers=headers
            )
            if method == "post"
            else browser.get(url, headers=headers)
        )
        assert answer.status_code < 500, (method, url, headers, answer.content[:300])


@pytest.mark.django_db
@override_settings(SYNC_METRICS_ENABLED=True, SYNC_METRICS_TOKEN="metrics-token")
def test_the_reported_crashes_are_clear_4xx_answers(open_endpoints) -> None:
    browser = Client(raise_request_exception=False)
    body = b'[{"id": 1}]'
    signed = signed_headers(HOOK_SECRET, body)

    non_ascii_bearer = browser.get("/metrics", headers={"Authorization": "Bearer \xe9"})
    bad_signature = browser.post(
        "/hooks/hooked/", data=body, content_type="application/json",
        headers={**signed, "X-Xcoresite-Signature": "sha256=\xff"},
    )  # fmt: skip
    bad_length = browser.post(
        "/hooks/hooked/",
        data=body,
        content_type="application/json",
        headers={**signed, "Content-Length": "abc"},
    )
    good = browser.get("/metrics", headers={"Authorization": "Bearer metrics-token"})

    assert non_ascii_bearer.status_code == 401
    assert bad_signature.status_code == 401
    assert bad_length.status_code == 400 and "Content-Length" in bad_length.json()["error"]
    assert good.status_code == 200


# --- Error pages mask secrets ----------------------------------------------------------------


def _boom(request: HttpRequest) -> None:
    token = "local-token-CANARY"  # noqa: F841  (a local the debug page would show)
    raise RuntimeError("boom")


urlpatterns = [path("boom/", _boom)]


@pytest.mark.django_db
@override_settings(
    DEBUG=True,
    ROOT_URLCONF=__name__,
    CELERY_BROKER_URL="redis://:broker-pw-CANARY@broker.example:6379/1",
    REDIS_URL="redis://cache-user:redis-pw-CANARY@cache.example:6379/2",
    SYNC_NOTIFY_WEBHOOKS=[("https://hooks.slack.com/services/T0/B0/slack-token-CANARY", "warning")],
    SENTRY_DSN="https://dsn-key-CANARY@sentry.example/1",
)
def test_the_debug_error_page_masks_urls_with_credentials_and_webhook_urls() -> None:
    page = Client(raise_request_exception=False).get(
        "/boom/", headers={"Authorization": "Bearer header-CANARY"}
    )

    text = page.content.decode()
    assert page.status_code == 500 and "RuntimeError" in text
    assert "CANARY" not in text.replace("local-token-CANARY", ""), "only the unmarked local may show"
    assert "broker.example" in text and "hooks.slack.com" in text, "hosts stay visible for debugging"


def test_the_app_refuses_to_start_with_debug_off_and_the_default_secret_key() -> None:
    env = child_env(DEBUG="false")
    env.pop("SECRET_KEY")
    refused = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    env["DEBUG"] = "true"
    development = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert refused.returncode != 0 and "SECRET_KEY is not set" in refused.stderr
    assert development.returncode == 0, development.stderr


@override_settings(SYNC_METRICS_ENABLED=True, SYNC_METRICS_TOKEN="")
def test_metrics_without_a_token_warn_at_start_up() -> None:
    warnings = [m for m in run_checks() if m.id == "syncers.W001"]
    assert warnings and "without SYNC_METRICS_TOKEN" in warnings[0].msg
    with override_settings(SYNC_METRICS_TOKEN="set"):
        assert not [m for m in run_checks() if m.id == "syncers.W001"]


# --- 3. Key rotation covers every encrypted field -------------------------------------------


def test_every_secret_column_is_an_encrypted_field_so_rotation_finds_it() -> None:
    found = {(model._meta.label, name) for model, name in encrypted_fields()}
    assert {
        ("gateway.Connection", "secret_ciphertext"),
        ("syncers.SyncClient", "hook_secret_ciphertext"),
    } <= found
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if "ciphertext" in field.name or field.name.endswith("_encrypted"):
                assert isinstance(field, EncryptedTextField), f"{model._meta.label}.{field.name}"


@pytest.mark.django_db
def test_the_readme_rotation_procedure_keeps_connection_and_webhook_secrets_working(make_client) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(GATEWAY_ENCRYPTION_KEYS=[old]):
        client = make_client("rotated")
        client.connection.set_secret("api-token")
        client.connection.save()
        client.set_hook_secret(HOOK_SECRET)
        client.save(update_fields=["hook_secret_ciphertext"])

    with override_settings(GATEWAY_ENCRYPTION_KEYS=[new, old]):  # 1. the new key first
        out = StringIO()
        call_command("rotate_keys", stdout=out)  # 2. re-encrypt
    with override_settings(GATEWAY_ENCRYPTION_KEYS=[new]):  # 3. drop the old key
        body = b'[{"id": 1}]'
        pushed = Client().post(
            "/hooks/rotated/",
            data=body,
            content_type="application/json",
            headers=signed_headers(HOOK_SECRET, body),
        )
        assert Connection.objects.get(pk=client.connection.pk).reveal_secret() == "api-token"

    assert "re-encrypted 1 secret in syncers.SyncClient.hook_secret_ciphertext" in out.getvalue()
    assert pushed.status_code == 202, pushed.content


# --- 4. The write-only secret cannot be sent elsewhere ---------------------------------------


def _connection_form(conn: Connection, **changes: object) -> dict[str, object]:
    data = {
        field: getattr(conn, field)
        for field in (
            *("name", "base_url", "auth_kind", "auth_name", "auth_username", "token_url", "token_scope"),
            *("connect_timeout", "read_timeout", "total_timeout", "max_body_bytes", "max_retries"),
            *("retry_budget", "rate_limit", "rate_burst", "allowed_hosts", "pause_reason"),
        )
    }
    data.update(headers=json.dumps(conn.headers), default_params=json.dumps(conn.default_params))
    data.update(changes)
    return data


@pytest.mark.django_db
def test_moving_a_connection_needs_its_secret_entered_again_in_the_admin(django_user_model) -> None:
    conn = Connection.objects.create(name="shop", base_url="https://1.1.1.1", auth_kind="bearer")
    conn.set_secret("sk-live-secret")
    conn.save()
    editor = staff(django_user_model, "conn-editor")
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["change_connection", "view_connection"])
    )
    url = f"/admin/gateway/connection/{conn.pk}/change/"

    moved = logged_in(editor).post(url, _connection_form(conn, base_url="https://8.8.8.8"))
    same_place = logged_in(editor).post(url, _connection_form(conn, read_timeout=20))
    reentered = logged_in(editor).post(url, _connection_form(conn, base_url="https://9.9.9.9", secret="sk-2"))

    assert moved.status_code == 200 and "enter the secret again" in moved.content.decode()
    assert same_place.status_code == 302
    assert reentered.status_code == 302
    conn.refresh_from_db()
    assert (conn.base_url, conn.reveal_secret()) == ("https://9.9.9.9", "sk-2")


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["base_url", "token_url", "allowed_hosts", "auth_kind"])
def test_every_field_that_moves_the_secret_is_guarded(field: str) -> None:
    conn = Connection.objects.create(name="shop", base_url="https://1.1.1.1", auth_kind="bearer")
    conn.set_secret("sk")
    conn.save()
    loaded = Connection.objects.get(pk=conn.pk)
    setattr(loaded, field, {"base_url": "https://x.example", "token_url": "https://t.example/token",
                            "allowed_hosts": "x.example", "auth_kind": "basic"}[field])  # fmt: skip

    assert loaded.secret_scope_changes() == [field]


@pytest.mark.django_db
def test_moving_a_connection_in_yaml_needs_its_secret_from_the_environment(monkeypatch) -> None:
    conn = Connection.objects.create(name="shop", base_url="https://1.1.1.1", auth_kind="bearer")
    conn.set_secret("sk-live")
    conn.save()
    moved = {"connections": [{"name": "shop", "base_url": "https://8.8.8.8", "auth_kind": "bearer"}]}

    with pytest.raises(ConfigError, match=r"connections\[0\] \(shop\): secret: .*enter the secret again"):
        apply_config(moved)
    monkeypatch.setenv("SHOP_TOKEN", "sk-live")
    apply_config({"connections": [{**moved["connections"][0], "secret_env": "SHOP_TOKEN"}]})

    assert Connection.objects.get(name="shop").base_url == "https://8.8.8.8"


# --- 5. A per-client edit grant reaches no other connection ----------------------------------


@pytest.mark.django_db
def test_a_per_client_editor_can_only_choose_connections_of_clients_they_edit(
    django_user_model, make_client
) -> None:
    mine = make_client("mine")
    other_conn = Connection.objects.create(name="payroll-api", base_url="https://payroll.example.com")
    SyncClient.objects.create(name="payroll", connection=other_conn, handler="demo_products", config={})
    editor = staff(django_user_model, "client-editor")
    ClientGrant.objects.create(client=mine, user=editor, can_edit=True)
    browser = logged_in(editor)
    url = f"/admin/syncers/syncclient/{mine.pk}/change/"

    page = browser.get(url).content.decode()
    form = {
        "name": mine.name, "description": "", "connection": other_conn.pk, "handler": mine.handler,
        "config": json.dumps(mine.config), "batch_size": mine.batch_size, "queue": mine.queue,
        "pause_durations": "", "max_failures": "", "max_duration": "", "notify_emails": "",
        "schedules-TOTAL_FORMS": 0, "schedules-INITIAL_FORMS": 0, "grants-TOTAL_FORMS": 0, "grants-INITIAL_FORMS": 0,
    }  # fmt: skip
    switched = browser.post(url, form)
    kept = browser.post(url, {**form, "connection": mine.connection_id, "description": "edited"})

    assert "payroll-api" not in page
    assert switched.status_code == 200 and "Select a valid choice" in switched.content.decode()
    assert kept.status_code == 302, "the same form with a connection of their own saves"
    saved = SyncClient.objects.get(pk=mine.pk)
    assert (saved.connection_id, saved.description) == (mine.connection_id, "edited")


# --- 6/7. Redirects stay on the site; filters show only visible clients ----------------------


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example", "/admin/syncers/syncrun/"])
def test_the_cancel_view_redirects_only_within_the_site(admin_client, make_client, target: str) -> None:
    run = SyncRun.objects.create(client=make_client(), trigger="admin")

    answer = admin_client.post(f"/admin/syncers/syncrun/{run.pk}/cancel/", {"next": target})

    expected = target if target.startswith("/admin/") else f"/admin/syncers/syncrun/{run.pk}/change/"
    assert answer.status_code == 302 and answer["Location"] == expected


@pytest.mark.django_db
@pytest.mark.parametrize("listing", ["syncrun", "failedrecord", "syncedrecord"])
def test_client_filters_list_only_the_clients_a_granted_user_may_see(
    django_user_model, make_client, listing: str
) -> None:
    user = staff(django_user_model, "granted-viewer")
    for name in ("visible-one", "visible-two"):
        ClientGrant.objects.create(client=make_client(name), user=user, can_run=True)
    make_client("secret-client-name")

    page = logged_in(user).get(f"/admin/syncers/{listing}/").content.decode()

    assert "visible-two" in page and "secret-client-name" not in page


# --- 8. Plugin jobs run only declared job methods; a refusal stops scheduled work -------------


@pytest.mark.django_db
@pytest.mark.parametrize("call", ["__class__", "_private", "handle", "on_start", "no_such_method"])
def test_a_job_runs_only_a_job_method_of_the_plugin(call: str) -> None:
    grant("data_syncer")

    with pytest.raises(PluginError, match="refused"):
        run_job("data_syncer", "edited", call)
    assert PluginRun.objects.get(name="edited").status == PluginRun.Status.FAILED


@pytest.mark.django_db
def test_refusing_a_grant_pauses_the_plugins_jobs_and_fails_its_queued_runs() -> None:
    grant("data_syncer")
    plugin_start(name="data_syncer", who="tester")
    queued = PluginRun.objects.create(
        plugin="data_syncer", kind=PluginRun.Kind.TASK, name="tasks.sync:process_batch"
    )

    perm = PluginPermission.objects.filter(plugin__name="data_syncer", resource="service:worker").get()
    permission_decide(permission=perm, grant=False, who="tester")

    assert not PeriodicTask.objects.get(name="plugin:data_syncer:hourly_sync").enabled
    queued.refresh_from_db()
    assert queued.status == PluginRun.Status.FAILED and "service:worker was refused" in queued.error


# --- 11. Pruning needs the section and, beyond a few objects, confirmation --------------------


@pytest.mark.django_db
def test_prune_never_deletes_a_section_the_file_does_not_contain(tmp_path, make_client) -> None:
    make_client("keep-me")
    file = tmp_path / "only-connections.yaml"
    file.write_text(yaml.safe_dump({"connections": [{"name": "fake-api", "base_url": "http://127.0.0.1:9"}]}))
    out = StringIO()

    call_command("sync_apply", str(file), "--prune", stdout=out)

    assert SyncClient.objects.filter(name="keep-me").exists()
    assert "clients not pruned: the file has no clients: section" in out.getvalue()


@pytest.mark.django_db
def test_a_large_prune_asks_for_yes_and_dry_run_lists_what_would_go(tmp_path, make_client) -> None:
    for i in range(5):
        make_client(f"old-{i}")
    file = tmp_path / "none.yaml"
    file.write_text("clients: []\n")

    with pytest.raises(CommandError, match=r"would delete 5 clients/connections.*--yes"):
        call_command("sync_apply", str(file), "--prune")
    assert SyncClient.objects.count() == 5
    dry = StringIO()
    call_command("sync_apply", str(file), "--prune", "--dry-run", stdout=dry)
    assert "- client old-0 (and its 0 synced records, runs and schedules)" in dry.getvalue()
    assert SyncClient.objects.count() == 5
    call_command("sync_apply", str(file), "--prune", "--yes", stdout=StringIO())
    assert SyncClient.objects.count() == 0


@override_settings(GATEWAY_TRUST_ENV=True)
def test_trusting_the_environments_proxies_warns_that_the_ssrf_guard_does_not_cover_them() -> None:
    (warning,) = [m for m in run_checks() if m.id == "gateway.W001"]
    assert "does not cover them" in warning.msg
    with override_settings(GATEWAY_TRUST_ENV=False):
        assert not [m for m in run_checks() if m.id == "gateway.W001"]
