"""The source config as a form, in a real headless Chromium at 1400x900: an operator creates
a REST client without typing JSON — picks a pagination style (only its options show), fills
numbers and adds a query parameter row — saves it, and the client stores exactly what was
set; the raw JSON stays one toggle away. Screenshots are saved as artefacts."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from playwright.sync_api import Page, expect

from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.models import SyncClient, SyncRun
from syncers.models.plugins import InstalledPlugin

from .test_admin_browser import PASSWORD, admin_login

pytest_plugins = ["tests.browser"]


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)


def snapshot(page: Page, name: str) -> Path:
    """A full-page screenshot at the operator's 1400x900 window, kept as a test artefact."""
    folder = Path(settings.VAR_DIR) / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def row(page: Page, option: str):
    return page.locator(f".sync-config-row[data-option='{option}']")


@pytest.mark.django_db(transaction=True)
def test_operator_creates_a_rest_client_through_the_form_fields_without_typing_json(
    page: Page, operator, connection_to: Connection, api: FakeApi
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    admin_login(page, "operator", PASSWORD)
    page.goto("/admin/syncers/syncclient/add/")

    expect(page.locator("#id_handler")).to_have_value("rest")
    expect(page.locator("#id_config")).to_be_hidden()
    expect(row(page, "page_param")).to_be_visible()
    page.fill("#id_name", "newcomer-api")
    page.select_option("#id_connection", label=connection_to.name)
    page.select_option("#id_config__pagination", "cursor")
    expect(row(page, "page_param")).to_be_hidden()
    expect(row(page, "cursor_param")).to_be_visible()
    expect(page.locator("#id_config__page_size_param")).to_have_attribute("placeholder", "limit")
    assert page.locator("#id_config__page_size").get_attribute("type") == "number"
    page.fill("#id_config__path", "/products/cursor")
    page.fill("#id_config__page_size", "25")
    page.click("#id_config__params .sync-pair-add")
    page.locator("#id_config__params .sync-pair-key").fill("lang")
    page.locator("#id_config__params .sync-pair-value").fill("en")
    snapshot(page, "config-form-filled")

    page.check(".sync-config-json-toggle")  # the raw JSON says what the fields say
    assert '"page_size": 25' in page.locator("#id_config").input_value()
    page.uncheck(".sync-config-json-toggle")
    page.click("input[name=_continue]")

    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    client = SyncClient.objects.get(name="newcomer-api")
    assert client.handler == "rest"
    assert client.config == {
        "pagination": "cursor",
        "path": "/products/cursor",
        "page_size": 25,
        "params": {"lang": "en"},
    }, "only what the operator set is stored"
    expect(page.locator("#id_config__page_size")).to_have_value("25")
    expect(row(page, "offset_param")).to_be_hidden()
    snapshot(page, "config-form-saved")

    # Test fetch: the first page as pretty JSON, on a result URL that survives reload and Back.
    page.click("#test-fetch-button")
    expect(page.locator("#test-fetch-summary")).to_contain_text("Page 1: 25 records")
    assert re.search(r"/test-fetch/[\w-]+/$", page.url), page.url
    first = page.locator("#test-fetch-records pre.sync-payload").first.inner_text()
    assert first.startswith('{\n  "id": 1,'), first
    expect(page.locator("#test-fetch-set-aside")).to_have_text("Every record shown would load.")
    snapshot(page, "test-fetch-result")
    page.reload()
    expect(page.locator("#test-fetch-summary")).to_contain_text("Page 1: 25 records")
    page.click("text=Back to newcomer-api")
    page.go_back()
    expect(page.locator("#test-fetch-summary")).to_contain_text("Page 1: 25 records")
    fetches = LogEntry.objects.filter(object_id=str(client.pk), change_message__startswith="Test fetch")
    assert fetches.count() == 1, "reload and Back show the kept result, they do not fetch again"


@pytest.mark.django_db(transaction=True)
def test_a_bad_value_typed_in_the_form_is_refused_naming_the_option(
    page: Page, operator, connection_to: Connection
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    admin_login(page, "operator", PASSWORD)
    page.goto("/admin/syncers/syncclient/add/")
    page.fill("#id_name", "bad-size")
    page.select_option("#id_connection", label=connection_to.name)

    page.fill("#id_config__page_size", "0")
    page.click("input[name=_save]")

    errors = page.locator(".form-row.field-config .errorlist")
    expect(errors).to_contain_text("'page_size' must be an integer from 1 to 10000.")
    expect(page.locator("#id_config__page_size")).to_have_value("0")
    expect(row(page, "page_size")).to_have_class(re.compile(r"\bsync-config-error\b"))
    expect(row(page, "path")).not_to_have_class(re.compile(r"\bsync-config-error\b"))
    assert not SyncClient.objects.filter(name="bad-size").exists()


@pytest.mark.django_db(transaction=True)
def test_connection_numbers_show_whole_with_units_and_the_pause_form_reads_like_the_admin(
    page: Page, operator, make_client
) -> None:
    client = make_client("newcomer-api")
    page.set_viewport_size({"width": 1400, "height": 900})
    admin_login(page, "operator", PASSWORD)

    page.goto(f"/admin/gateway/connection/{client.connection_id}/change/")
    expect(page.locator("#id_max_body_bytes")).to_have_value("50 MB")
    expect(page.locator("#id_connect_timeout")).to_have_value("2s")
    for field in ("max_body_bytes", "connect_timeout", "read_timeout", "total_timeout", "retry_budget"):
        fits = page.locator(f"#id_{field}").evaluate("e => e.scrollWidth <= e.clientWidth")
        assert fits, f"{field}'s value is cut off"
    snapshot(page, "connection-form")
    page.fill("#id_max_body_bytes", "8 MB")
    page.fill("#id_read_timeout", "1m")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    expect(page.locator("#id_max_body_bytes")).to_have_value("8 MB")
    expect(page.locator("#id_read_timeout")).to_have_value("1m")

    page.goto(f"/admin/syncers/syncclient/{client.pk}/pause/")
    expect(page.locator("label.required[for=id_reason]")).to_have_text("Reason:")
    expect(page.locator("fieldset h2.fieldset-heading")).to_have_text("How long")
    expect(page.locator("#id_hours_helptext")).to_contain_text("Resume by itself")
    page.click("#pause-submit")
    expect(page.locator(".errornote")).to_contain_text("Please correct the error below.")
    expect(page.locator(".field-reason .errorlist")).to_contain_text("This field is required.")
    snapshot(page, "pause-form")


@pytest.mark.django_db(transaction=True)
def test_schedule_rows_show_their_kinds_inputs_and_preview_as_you_type(
    page: Page, operator, make_client
) -> None:
    client = make_client("newcomer-api")
    page.set_viewport_size({"width": 1400, "height": 900})
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")

    page.click("#schedules-group .add-row a")
    page.select_option("#id_schedules-0-kind", "interval")
    expect(page.locator("#id_schedules-0-timezone")).to_be_hidden()
    expect(page.locator("#id_schedules-0-run_at_0")).to_be_hidden()
    expect(page.locator("#id_schedules-0-cron")).to_be_hidden()
    page.fill("#id_schedules-0-every", "6")
    page.select_option("#id_schedules-0-period", "hours")
    live = page.locator("#schedules-0 .sync-cron-live")
    expect(live.locator("strong")).to_have_text("Every 6 hours")
    expect(live.locator("ol.sync-fires li")).to_have_count(5)

    page.click("#schedules-group .add-row a")
    expect(page.locator("#id_schedules-1-period")).to_be_hidden()  # a new row is a cron row
    expect(page.locator("#id_schedules-1-every")).to_be_hidden()
    page.locator("#id_schedules-1-cron").press_sequentially("30 2 * * *")  # typing, no blur
    expect(page.locator("#schedules-1 .sync-cron-live strong")).to_have_text("At 02:30")
    page.locator("#id_schedules-1-cron").press_sequentially("x")
    expect(page.locator("#schedules-1 .sync-cron-live")).not_to_contain_text("At 02:30")
    page.locator("#id_schedules-1-cron").press("Backspace")
    expect(page.locator("#schedules-1 .sync-cron-live strong")).to_have_text("At 02:30")
    snapshot(page, "schedule-rows-live")

    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    saved = page.locator("#schedules-0 td.field-preview")
    expect(saved.locator(".sync-cron-words")).to_have_text("Every 6 hours")
    expect(saved.locator("ol.sync-fires li")).to_have_count(5)
    expect(page.locator("#id_schedules-0-timezone")).to_be_hidden()
    snapshot(page, "schedule-rows-saved")


@pytest.mark.django_db(transaction=True)
def test_messages_name_objects_as_written_count_properly_and_use_plain_labels(
    page: Page, operator, make_client
) -> None:
    client = make_client("newcomer-api")
    SyncRun.objects.create(client=client, trigger="schedule", status=SyncRun.Status.SKIPPED_PAUSED)
    page.set_viewport_size({"width": 1400, "height": 900})
    admin_login(page, "operator", PASSWORD)

    page.goto("/admin/syncers/syncclient/")
    expect(page.locator("td.field-last_run")).to_contain_text("skipped (paused)")
    expect(page.locator("#nav-sidebar")).to_contain_text("Data syncer log")
    expect(page.locator("#nav-sidebar")).not_to_contain_text("Data_syncer")
    page.check(f"input[name=_selected_action][value='{client.pk}']")
    page.select_option("select[name=action]", "pause")
    page.click("button[name=index]")
    expect(page.locator("#content p").first).to_have_text(re.compile(r"^Pause this sync client\?"))
    page.fill("#id_reason", "vendor window")
    page.fill("#id_hours", "2")
    page.click("#pause-submit")
    expect(page.locator(".messagelist .success")).to_have_text("Paused 1 client: newcomer-api.")

    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")
    client.refresh_from_db()
    end = f"{client.paused_until.astimezone(ZoneInfo(settings.TIME_ZONE)):%H:%M}"
    assert page.locator("#client-console").inner_text().count(end) == 1, "the pause's end, once"
    page.click("#resume-run-button")
    run = SyncRun.objects.filter(client=client, trigger=SyncRun.Trigger.ADMIN).get()
    expect(page.locator(".messagelist .success")).to_have_text(
        f"Resumed newcomer-api and queued run #{run.pk}."
    )
    expect(page.locator(f".messagelist a[href$='/syncrun/{run.pk}/change/']")).to_have_text(f"run #{run.pk}")
    snapshot(page, "messages-resumed")


@pytest.mark.django_db(transaction=True)
def test_the_call_an_action_form_reads_like_the_rest_of_the_admin(page: Page, operator) -> None:
    from syncers.plugins.config import record_manifests

    record_manifests()
    plugin = InstalledPlugin.objects.get(name="data_syncer")
    page.set_viewport_size({"width": 1400, "height": 900})
    admin_login(page, "operator", PASSWORD)

    page.goto(f"/admin/syncers/installedplugin/{plugin.pk}/call/")

    expect(page.locator("fieldset.module.aligned label.required[for=id_action]")).to_have_text("Action:")
    expect(page.locator("#id_action_helptext")).to_contain_text("One of the actions")
    expect(page.locator("#id_payload_helptext")).to_contain_text("A JSON object passed to handle()")
    page.fill("#id_payload", "[1]")
    page.click("#call-submit")
    expect(page.locator(".field-payload .errorlist")).to_contain_text("The payload must be a JSON object.")
    snapshot(page, "plugin-call-form")


@pytest.mark.django_db(transaction=True)
def test_a_config_the_form_cannot_show_opens_as_json_and_saves_unchanged(
    page: Page, operator, make_client
) -> None:
    written = {"page_size": 50, "page_size_param": "", "version_field": None}
    client = make_client("newcomer-api", handler="rest", config=written)
    page.set_viewport_size({"width": 1400, "height": 900})
    admin_login(page, "operator", PASSWORD)

    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")

    expect(page.locator(".sync-config-json-toggle")).to_be_checked()
    expect(page.locator(".sync-config-problem")).to_contain_text('The form cannot show page_size_param: ""')
    expect(page.locator("#id_config")).to_be_visible()
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    client.refresh_from_db()
    assert client.config == written, "an empty parameter name and a null stay as written"
