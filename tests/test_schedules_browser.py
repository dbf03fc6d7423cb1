"""Bounded schedules and extra context in the admin, in a real headless Chromium: a bad bound
is refused at its field, a good one is saved and the preview says what is left; a run page
says which schedule fired the run and with what."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask
from playwright.sync_api import Page, expect

from fakeapi.control import FakeApi
from syncers.models import SyncRun, SyncSchedule

from .test_admin_browser import PASSWORD, admin_login

pytest_plugins = ["tests.browser"]


@pytest.mark.django_db(transaction=True)
def test_operator_limits_an_interval_to_three_runs_in_the_inline_and_sees_three_runs_left(
    page: Page, django_user_model, make_client, api: FakeApi
) -> None:
    django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)
    client = make_client()
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")
    page.click("#schedules-group .add-row a")
    page.select_option("#id_schedules-0-kind", "interval")
    page.fill("#id_schedules-0-every", "1")
    page.select_option("#id_schedules-0-period", "hours")
    page.fill("#id_schedules-0-max_runs", "0")
    page.click("input[name=_continue]")
    expect(page.locator("#schedules-group .errorlist").first).to_contain_text("Give at least 1 run")
    assert not SyncSchedule.objects.exists()

    page.fill("#id_schedules-0-max_runs", "3")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    schedule = SyncSchedule.objects.get(client=client)
    assert (schedule.max_runs, schedule.runs_fired) == (3, 0)
    assert PeriodicTask.objects.get(sync_schedule=schedule).enabled
    expect(page.locator("#schedules-group td.field-preview").first).to_contain_text("3 runs left")


@pytest.mark.django_db(transaction=True)
def test_the_run_page_says_which_schedule_fired_it_and_with_what(
    page: Page, django_user_model, make_client
) -> None:
    django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)
    client = make_client()
    schedule = SyncSchedule.objects.create(
        client=client, kind="interval", every=1, period="hours", params={"region": "eu"}
    )
    run = SyncRun.objects.create(
        client=client,
        trigger=SyncRun.Trigger.SCHEDULE,
        schedule=schedule,
        context={"schedule": schedule.pk, "params": {"region": "eu"}},
        status=SyncRun.Status.SUCCEEDED,
    )
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncrun/{run.pk}/change/")
    expect(page.locator(".field-context_note")).to_contain_text(
        f"fired by schedule {schedule.pk} with {{region: eu}}"
    )
