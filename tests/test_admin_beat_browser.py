"""The stock "Periodic tasks" admin in a real headless Chromium at 1400x900: the tasks the
product manages (a schedule's `sync:*`, a plugin's `plugin:*` / `job:*`) are read-only there,
cannot be deleted, and link to the client or plugin that owns them; an operator's own task
stays editable."""

from __future__ import annotations

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from playwright.sync_api import Page, expect

from syncers.models import SyncSchedule
from syncers.models.plugins import InstalledPlugin

from .test_admin_browser import PASSWORD, admin_login

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/django_celery_beat/periodictask/"


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)


def test_managed_periodic_tasks_are_read_only_and_link_to_their_owner(
    page: Page, operator, make_client, screenshot
) -> None:
    client = make_client(name="nightly-products")
    schedule = SyncSchedule.objects.create(client=client, kind="interval", every=5, period="minutes")
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    plugin = InstalledPlugin.objects.create(name="inventory-audit", version="1.0")
    plugin_task = PeriodicTask.objects.create(
        name="plugin:inventory-audit:nightly", task="plugins.run_job", interval=every
    )
    own = PeriodicTask.objects.create(name="operator-cleanup", task="syncers.reconcile", interval=every)
    page.set_viewport_size({"width": 1400, "height": 900})
    admin_login(page, "operator", PASSWORD)

    page.goto(URL)
    sync_row = page.locator("#result_list tbody tr", has_text=f"sync:{client.name}:")
    expect(sync_row.locator("td.field-managed_by a")).to_have_text(client.name)
    expect(
        page.locator("#result_list tbody tr", has_text="plugin:inventory-audit").locator(
            "td.field-managed_by a"
        )
    ).to_have_text(plugin.name)
    screenshot(page, "periodic-tasks-list", width=1400)

    for task, owner_url in (
        (schedule.periodic_task, f"/admin/syncers/syncclient/{client.pk}/change/"),
        (plugin_task, f"/admin/syncers/installedplugin/{plugin.pk}/change/"),
    ):
        page.goto(f"{URL}{task.pk}/change/")
        expect(page.locator(".field-managed_by .readonly a")).to_have_attribute("href", owner_url)
        assert page.locator("input[name=_save], input[name=name], a.deletelink").count() == 0, (
            "read-only, no delete"
        )
        assert page.locator(".field-name .readonly").inner_text() == task.name
    screenshot(page, "periodic-task-managed", width=1400)

    page.goto(f"{URL}{own.pk}/change/")
    expect(page.locator("input[name=name]")).to_have_value("operator-cleanup")  # the operator's own task
    assert page.locator("input[name=_save]").count() == 1 and page.locator(".field-managed_by").count() == 0

    # A bulk delete that includes managed tasks is refused as a whole; nothing is deleted.
    page.goto(URL)
    page.check("#action-toggle")
    page.select_option("select[name=action]", "delete_selected")
    page.click("button[name=index]")
    expect(page.locator("#content h1")).to_have_text("Cannot delete periodic tasks")
    assert page.locator("input[type=submit]").count() == 0
    assert (
        PeriodicTask.objects.filter(pk__in=[schedule.periodic_task_id, plugin_task.pk, own.pk]).count() == 3
    )
