"""The operator console in a real headless Chromium, against the live server, a real Celery
worker and the bundled fake API: set a client up, get errors at the field, run it, and see
that the Run-now verb is only offered to (and only accepted from) those allowed to run."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Permission
from django_celery_beat.models import PeriodicTask
from playwright.sync_api import Page, expect

from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.models import SyncClient, SyncRun, SyncSchedule

from .processes import wait_until

# The `browser` (session) and `page` fixtures.
pytest_plugins = ["tests.browser"]

PASSWORD = "correct horse battery staple"
QUEUED = re.compile(r"Queued run #(\d+) of (\S+)\.")


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)


def admin_login(page: Page, username: str, password: str) -> None:
    """Log in through the admin's own login form, as an operator does."""
    page.goto("/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def queued_run_id(page: Page) -> int:
    """The run number from the success message the admin shows after queueing a run."""
    message = page.locator(".messagelist .success").inner_text()
    match = QUEUED.search(message)
    assert match, f"no 'Queued run #N' message, got: {message!r}"
    return int(match.group(1))


def wait_final(run_id: int) -> SyncRun:
    return wait_until(
        lambda: SyncRun.objects.filter(pk=run_id, status__in=SyncRun.FINAL).first(),
        timeout=45,
        what=f"run #{run_id} to finish",
    )


def fill_client_form(page: Page, *, name: str, connection: str, config: str) -> None:
    page.fill("#id_name", name)
    page.select_option("#id_connection", label=connection)
    page.select_option("#id_handler", "demo_products")
    page.check(".sync-config-json-toggle")  # typed as JSON: the raw editor behind the toggle
    page.fill("#id_config", config)


def add_cron_schedule(page: Page, cron: str, timezone: str) -> None:
    """Use the inline's JavaScript "Add another Schedule" row, as an operator does."""
    page.click("#schedules-group .add-row a")
    page.select_option("#id_schedules-0-kind", "cron")
    page.fill("#id_schedules-0-cron", cron)
    page.fill("#id_schedules-0-timezone", timezone)


@pytest.mark.django_db(transaction=True)
def test_operator_sets_up_connection_client_and_cron_schedule_which_becomes_one_beat_task(
    page: Page, operator, api: FakeApi
) -> None:
    admin_login(page, "operator", PASSWORD)

    page.goto("/admin/gateway/connection/add/")
    page.fill("#id_name", "fake-api")
    page.fill("#id_base_url", api.url)
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    connection = Connection.objects.get(name="fake-api")
    assert connection.base_url == api.url

    page.goto("/admin/syncers/syncclient/add/")
    fill_client_form(page, name="products", connection="fake-api", config='{"page_size": 50}')
    add_cron_schedule(page, "*/15 * * * *", "Europe/Berlin")
    page.click("input[name=_continue]")

    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    client = SyncClient.objects.get(name="products")
    assert (client.connection, client.handler) == (connection, "demo_products")
    assert client.config["page_size"] == 50
    schedule = SyncSchedule.objects.get(client=client)
    assert (schedule.kind, schedule.cron, schedule.timezone) == ("cron", "*/15 * * * *", "Europe/Berlin")
    tasks = PeriodicTask.objects.filter(task="syncers.scheduled_sync")
    assert tasks.count() == 1, "one schedule is exactly one beat entry"
    task = tasks.get()
    assert task.pk == schedule.periodic_task_id
    assert json.loads(task.kwargs) == {"client_id": client.pk, "schedule_id": schedule.pk}
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == (
        "*/15",
        "*",
        "Europe/Berlin",
    )
    # The inline shows the beat entry it made, so the operator can see the schedule is live.
    assert page.locator("#schedules-0 td.field-beat_entry").inner_text().strip() == "enabled"


@pytest.mark.django_db(transaction=True)
def test_invalid_cron_is_shown_at_the_cron_field_and_nothing_is_saved(
    page: Page, operator, connection_to: Connection
) -> None:
    admin_login(page, "operator", PASSWORD)
    page.goto("/admin/syncers/syncclient/add/")
    fill_client_form(page, name="products", connection=connection_to.name, config='{"page_size": 50}')
    add_cron_schedule(page, "61 * * * *", "Europe/Berlin")

    page.click("input[name=_save]")

    cron_cell = page.locator("#schedules-group td.field-cron")
    assert "Invalid cron" in cron_cell.locator(".errorlist").inner_text()
    assert cron_cell.locator("#id_schedules-0-cron").input_value() == "61 * * * *", "input kept"
    assert page.locator(".errornote").is_visible()
    assert not SyncClient.objects.exists()
    assert not SyncSchedule.objects.exists()
    assert not PeriodicTask.objects.filter(task="syncers.scheduled_sync").exists()


@pytest.mark.django_db(transaction=True)
def test_unknown_config_key_is_shown_at_the_config_field_and_nothing_is_saved(
    page: Page, operator, make_client
) -> None:
    client = make_client()
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")

    page.check(".sync-config-json-toggle")
    page.fill("#id_config", '{"page_size": 50, "colour": "red"}')
    page.click("input[name=_save]")

    config_row = page.locator(".form-row.field-config")
    assert "Unknown source option colour." in config_row.locator(".errorlist").inner_text()
    assert page.locator(".errorlist").count() == 1, "only the config field is in error"
    client.refresh_from_db()
    assert "colour" not in client.config


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_run_now_button_queues_a_run_that_succeeds_and_shows_its_counts(
    page: Page, operator, api: FakeApi, make_client
) -> None:
    client = make_client()
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")

    page.click("#run-now-button")

    run_id = queued_run_id(page)
    run = SyncRun.objects.get(pk=run_id)
    assert (run.client, run.trigger, run.triggered_by) == (client, "admin", "operator")
    assert wait_final(run_id).status == SyncRun.Status.SUCCEEDED

    page.goto("/admin/syncers/syncrun/")
    row = page.locator("#result_list tbody tr", has_text="products")
    assert row.count() == 1
    assert row.locator("td.field-status_column").inner_text() == "succeeded"

    page.click(f"#result_list a[href$='/syncrun/{run_id}/change/']")
    assert page.locator(".field-live_status .readonly").inner_text() == "succeeded"
    assert page.locator(".field-live_fetched .readonly").inner_text() == "250"
    assert page.locator(".field-live_created .readonly").inner_text() == "250"
    assert page.locator(".field-live_failed .readonly").inner_text() == "0"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_run_now_list_action_queues_a_run_for_the_selected_client_only(
    page: Page, operator, api: FakeApi, make_client
) -> None:
    products = make_client("products")
    make_client("orders")
    admin_login(page, "operator", PASSWORD)
    page.goto("/admin/syncers/syncclient/")

    page.check(f"input[name=_selected_action][value='{products.pk}']")
    page.select_option("select[name=action]", "run_now")
    page.click("button[name=index]")

    run_id = queued_run_id(page)
    assert QUEUED.search(page.locator(".messagelist .success").inner_text()).group(2) == "products"
    assert list(SyncRun.objects.values_list("pk", "client__name", "trigger")) == [
        (run_id, "products", "admin")
    ]
    assert wait_final(run_id).status == SyncRun.Status.SUCCEEDED


@pytest.fixture
def clerk(django_user_model):
    """Staff who may view and edit sync clients but not start runs."""
    user = django_user_model.objects.create_user("clerk", "clerk@example.com", PASSWORD, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="syncers", codename__in=["view_syncclient", "change_syncclient"]
        )
    )
    return user


@pytest.mark.django_db(transaction=True)
def test_staff_without_run_permission_is_offered_neither_button_nor_action(
    page: Page, clerk, make_client
) -> None:
    client = make_client()
    admin_login(page, "clerk", PASSWORD)

    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")
    assert page.locator("input[name=_save]").is_visible(), "the clerk may edit the client"
    assert page.locator("#run-now-button").count() == 0
    page.goto("/admin/syncers/syncclient/")
    assert page.locator("#result_list", has_text="products").is_visible()
    assert page.locator("select[name=action] option[value=run_now]").count() == 0

    # The permission alone is what hides them: granted, both appear.
    clerk.user_permissions.add(Permission.objects.get(codename="run_syncclient"))
    page.reload()
    assert page.locator("select[name=action] option[value=run_now]").count() == 1
    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")
    assert page.locator("#run-now-button").is_visible()


@pytest.mark.django_db
def test_forged_run_now_post_without_run_permission_is_refused_and_queues_nothing(
    client, clerk, make_client
) -> None:
    sync_client = make_client()
    client.force_login(clerk)

    response = client.post(f"/admin/syncers/syncclient/{sync_client.pk}/run-now/")
    assert response.status_code == 403
    response = client.post(
        "/admin/syncers/syncclient/",
        {"action": "run_now", "_selected_action": [sync_client.pk], "index": "0"},
    )
    assert response.status_code in (200, 302)
    assert not SyncRun.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_run_now_on_a_paused_client_is_refused_with_the_reason_and_a_forced_run_is_marked(
    page: Page, operator, api: FakeApi, make_client
) -> None:
    from django.core.management import call_command

    from syncers.services import client_pause

    client = make_client()
    client_pause(client=client, who="operator", reason="vendor maintenance")
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")

    button = page.locator("#run-now-button")
    assert button.is_disabled()
    assert "vendor maintenance" in button.get_attribute("title")

    page.goto("/admin/syncers/syncclient/")
    page.check(f"input[name=_selected_action][value='{client.pk}']")
    page.select_option("select[name=action]", "run_now")
    page.click("button[name=index]")
    refused = page.locator(".messagelist .error").inner_text()
    assert refused.lower() == (
        "client products is paused (paused by operator: vendor maintenance): "
        "resume it, or run it once with sync_run --force"
    )
    assert not SyncRun.objects.exists(), "nothing queued that would only end skipped"

    call_command("sync_run", "products", "--force", "--wait", "--timeout", "45")
    run = SyncRun.objects.get()
    assert (run.status, run.forced, run.triggered_by) == ("succeeded", True, "manage.py sync_run --force")
    assert SyncClient.objects.get(pk=client.pk).state == "paused", "the pause stays"
    page.goto(f"/admin/syncers/syncrun/{run.pk}/change/")
    assert page.locator(".field-forced img").get_attribute("alt") == "True"
