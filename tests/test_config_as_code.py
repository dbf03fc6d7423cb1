"""sync_apply / sync_export: a whole setup from one YAML file plus environment secrets."""

from __future__ import annotations

import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.alerts.notify import EmailChannel, WebhookChannel, notify
from syncers.alerts.pause import Event
from syncers.models import Notification, NotificationRoute, SyncClient, SyncSchedule
from syncers.models.plugins import InstalledPlugin, PluginPermission
from syncers.plugins.config import plugin_row
from syncers.plugins.grants import allowed

from .processes import ROOT, child_env

SETUP = """
connections:
  - name: shop-api
    base_url: {url}
    auth_kind: bearer
    secret_env: SHOP_API_TOKEN
    rate_limit: 5
clients:
  - name: products
    connection: shop-api
    handler: demo_products
    config: {{page_size: 50}}
    batch_size: 200
    schedules:
      - {{cron: "*/15 * * * *", timezone: Europe/Berlin}}
      - {{every: 6, period: hours, enabled: false}}
notifications:
  - {{email: oncall@example.com, level: error}}
  - {{webhook_env: OPS_WEBHOOK_URL, level: warning}}
  - {{email: shop-team@example.com, client: products, level: notice}}
plugins:
  - name: data_syncer
    enabled: true
    config: {{connection: shop-api, path: /products}}
    permissions:
      - {{resource: "service:scheduler", actions: "*"}}
      - {{resource: "plugin:gateway", actions: execute}}
      - {{resource: "db.sync_*", actions: "read,write", state: refused}}
"""


@pytest.fixture
def setup_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOP_API_TOKEN", "canary-token-123")
    monkeypatch.setenv("OPS_WEBHOOK_URL", "https://hooks.example.com/services/T0/B0/secret-path")
    path = tmp_path / "setup.yaml"
    path.write_text(SETUP.format(url="http://127.0.0.1:8765"))
    return path


def apply(*args: str) -> str:
    out = StringIO()
    call_command("sync_apply", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_applying_a_file_creates_everything_and_twice_changes_nothing(setup_file: Path) -> None:
    first = apply(str(setup_file))

    assert "+ connection shop-api" in first and "+ client products" in first
    conn = Connection.objects.get(name="shop-api")
    assert conn.reveal_secret() == "canary-token-123" and "canary" not in first
    client = SyncClient.objects.get(name="products")
    assert (client.batch_size, client.config["page_size"]) == (200, 50)
    assert PeriodicTask.objects.filter(task="syncers.scheduled_sync").count() == 2
    assert apply(str(setup_file)).strip() == "nothing to change"


@pytest.mark.django_db
def test_dry_run_prints_the_diff_and_changes_nothing(setup_file: Path) -> None:
    out = apply(str(setup_file), "--dry-run")

    assert "+ client products" in out and "would change" in out
    assert not SyncClient.objects.exists() and not Connection.objects.exists()
    assert not PeriodicTask.objects.filter(task="syncers.scheduled_sync").exists()


@pytest.mark.django_db
def test_edits_replace_schedules_and_prune_removes_what_the_file_omits(setup_file: Path, make_client) -> None:
    apply(str(setup_file))
    stray = make_client("stray")
    setup_file.write_text(
        setup_file.read_text()
        .replace("*/15 * * * *", "0 6 * * *")
        .replace("batch_size: 200", "batch_size: 300")
    )

    out = apply(str(setup_file), "--prune")

    assert "~ client products: batch_size" in out
    assert "- schedule products: cron '*/15 * * * *' (Europe/Berlin)" in out
    assert "+ schedule products: cron '0 6 * * *' (Europe/Berlin)" in out
    assert "- client stray" in out and not SyncClient.objects.filter(pk=stray.pk).exists()
    crons = list(SyncSchedule.objects.filter(kind="cron").values_list("cron", flat=True))
    assert crons == ["0 6 * * *"]


@pytest.mark.django_db
def test_export_then_apply_round_trips(setup_file: Path, tmp_path: Path) -> None:
    apply(str(setup_file))
    exported = StringIO()
    call_command("sync_export", stdout=exported)
    assert (
        "canary-token-123" not in exported.getvalue() and "secret_env: SHOP_API_SECRET" in exported.getvalue()
    )
    again = tmp_path / "exported.yaml"
    again.write_text(exported.getvalue().replace("SHOP_API_SECRET", "SHOP_API_TOKEN"))

    assert apply(str(again)).strip() == "nothing to change"


@pytest.mark.django_db
def test_notification_routes_and_plugin_permissions_come_from_the_file(
    setup_file: Path, api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_WEBHOOK_URL", f"{api.url}/webhook?token=T0-secret")
    apply(str(setup_file))
    client = SyncClient.objects.get(name="products")

    assert EmailChannel().recipients(client, "notice") == ["shop-team@example.com"]
    assert EmailChannel().recipients(client, "error") == ["oncall@example.com", "shop-team@example.com"]
    assert WebhookChannel().recipients(client, "warning") == [f"{api.url}/webhook?token=T0-secret"]
    notify(client=client, run=None, events=[Event("auth_pause", "error", "HTTP 401 from the API")])
    assert "auth pause" in api.webhooks()[0]["subject"]
    sent = Notification.objects.get(channel="webhook")
    assert sent.delivered and sent.recipient == f"{api.url}/…", "the URL's token is not recorded"
    assert allowed("data_syncer", "service:scheduler", "write")
    assert allowed("data_syncer", "plugin:gateway", "execute")
    assert not allowed("data_syncer", "db.sync_logs", "write"), "refused in the file"
    assert InstalledPlugin.objects.get(name="data_syncer").config["connection"] == "shop-api"

    setup_file.write_text(
        setup_file.read_text()
        .replace("  - {email: oncall@example.com, level: error}\n", "")
        .replace('      - {resource: "plugin:gateway", actions: execute}\n', "")
    )
    out = apply(str(setup_file))

    assert "- notification email oncall@example.com" in out
    assert "~ plugin data_syncer: plugin:gateway requested (no longer decided)" in out
    assert not allowed("data_syncer", "plugin:gateway", "execute")
    assert EmailChannel().recipients(client, "error") == ["shop-team@example.com"]
    assert apply(str(setup_file)).strip() == "nothing to change"


@pytest.mark.django_db
def test_a_whole_installation_is_rebuilt_from_its_export(
    setup_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an operator added in the admin (a hand-made grant, a route) is in the export; an
    empty database plus the exported file plus the environment's secrets gives it all back."""
    apply(str(setup_file))
    plugin = InstalledPlugin.objects.get(name="gateway")
    PluginPermission.objects.create(
        plugin=plugin, resource="gateway:shop-api", actions="read", state="granted"
    )
    NotificationRoute.objects.create(
        channel="webhook", target="https://hooks.example.com/x", min_level="error"
    )
    before = export()
    monkeypatch.setenv("SHOP_API_SECRET", "canary-token-123")
    path = tmp_path / "installation.yaml"
    path.write_text(before)

    SyncClient.objects.all().delete()
    Connection.objects.all().delete()
    NotificationRoute.objects.all().delete()
    InstalledPlugin.objects.all().delete()
    apply(str(path))

    assert export() == before
    assert Connection.objects.get(name="shop-api").reveal_secret() == "canary-token-123"
    assert allowed("gateway", "gateway:shop-api", "read")
    assert not allowed("data_syncer", "service:worker", "execute"), "requested, never granted in the file"
    assert PeriodicTask.objects.filter(task="syncers.scheduled_sync").count() == 2


def export() -> str:
    out = StringIO()
    call_command("sync_export", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clients:\n  - name: x\n\t  connection: a\n", "invalid YAML at line 3"),
        (
            "connections:\n  - {name: a, base_url: 'http://x.io', secret: plain}\n",
            "secrets may not be written",
        ),
        (
            "connections:\n  - {name: a, base_url: 'http://x.io', secret_env: NOT_SET_ANYWHERE}\n",
            "missing env secret NOT_SET_ANYWHERE",
        ),
        ("clients:\n  - {name: c, connection: nope}\n", "unknown connection 'nope'"),
        (
            "connections:\n  - {name: a, base_url: 'http://127.0.0.1:8765'}\nclients:\n  - name: c\n    connection: a\n"
            "    config: {path: /x}\n    schedules: [{cron: '61 * * * *'}]\n",
            "clients[0] (c).schedules[0]: cron: Invalid cron",
        ),
        (
            "notifications:\n  - {email: a@example.com, webhook: 'https://x.io/h'}\n",
            "notifications[0]: say where it goes with exactly one of email, webhook or webhook_env",
        ),
        ("notifications:\n  - {email: not-an-address}\n", "notifications[0]: target: Enter a valid e-mail"),
        ("notifications:\n  - {email: a@example.com, client: ghost}\n", "unknown client 'ghost'"),
        ("plugins:\n  - {name: ghost}\n", "plugins[0] (ghost): unknown plugin 'ghost'"),
        (
            "plugins:\n  - name: gateway\n    permissions: [{resource: 'disk:/etc', actions: read}]\n",
            "plugins[0] (gateway).permissions[0]: resource: 'disk:/etc' is not a resource",
        ),
    ],
)
def test_bad_files_fail_with_one_clear_line_and_change_nothing(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(
        CommandError,
        match=re.escape(message),
    ):
        apply(str(path))
    assert not Connection.objects.exists() and not SyncClient.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_line_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("clients: [\n")
    result = subprocess.run(
        [sys.executable, "manage.py", "sync_apply", str(path)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "invalid YAML at line 2" in result.stderr


@pytest.mark.django_db
def test_a_fresh_installations_export_applies_as_a_no_op_with_its_plugins_not_yet_configured(
    tmp_path: Path,
) -> None:
    """data_syncer requires a connection; nobody configured it yet. Its export must still apply."""
    InstalledPlugin.objects.all().delete()
    for name in ("data_syncer", "gateway"):
        plugin_row(name)
    assert "connection" not in InstalledPlugin.objects.get(name="data_syncer").config, "not configured yet"
    path = tmp_path / "fresh.yaml"
    path.write_text(export())

    assert "data_syncer" in path.read_text()
    assert apply(str(path)).strip() == "nothing to change"


@pytest.mark.django_db
def test_a_client_saved_by_an_operator_exports_only_what_was_written_and_applies_as_a_no_op(
    connection_to: Connection, tmp_path: Path
) -> None:
    written = {"pagination": "cursor", "path": "/products/cursor", "page_size": 50}
    client = SyncClient(name="written", connection=connection_to, handler="rest", config=dict(written))
    client.full_clean()
    client.save()
    exported = StringIO()
    call_command("sync_export", stdout=exported)
    data = yaml.safe_load(exported.getvalue())
    path = tmp_path / "exported.yaml"
    path.write_text(exported.getvalue())

    assert SyncClient.objects.get(name="written").config == written, "no defaults added on save"
    assert data["clients"][0]["config"] == written
    assert apply(str(path), "--dry-run").strip() == "nothing to change"


@pytest.mark.django_db
def test_apply_checks_the_config_against_the_handlers_options(setup_file: Path) -> None:
    setup_file.write_text(
        setup_file.read_text().replace("{page_size: 50}", "{page_size: 50, cursor_param: c}")
    )

    with pytest.raises(
        CommandError, match=r"config: Option 'cursor_param' does not apply to pagination 'page'"
    ):
        apply(str(setup_file))
