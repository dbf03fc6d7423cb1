"""The operator console end to end in a real headless Chromium, against the live server, a
real Celery worker and the bundled fake API: schedule a client and read its next fire times,
run it and watch the live progress reach 100%, pause it with a reason, resume it, open the
dashboard; and a pause-only operator who is offered Pause but not Run now, and whose forged
Run-now POST is refused. Screenshots of the client list, a running run and the dashboard are
saved as artefacts (their paths are printed)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import Page, expect

from fakeapi.control import FakeApi
from syncers.models import SyncClient, SyncRun
from syncers.schedules.cron_preview import TIME_FORMAT, cron_next_fires

from .test_admin_browser import PASSWORD, add_cron_schedule, admin_login, fill_client_form, queued_run_id

pytest_plugins = ["tests.browser"]

RUN_TIMEOUT_MS = 45_000


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)


def create_connection_and_client(page: Page, api: FakeApi) -> SyncClient:
    page.goto("/admin/gateway/connection/add/")
    page.fill("#id_name", "fake-api")
    page.fill("#id_base_url", api.url)
    page.click("input[name=_save]")
    page.goto("/admin/syncers/syncclient/add/")
    fill_client_form(page, name="products", connection="fake-api", config='{"page_size": 25}')
    add_cron_schedule(page, "30 2 * * *", "Europe/Berlin")
    page.locator("#id_schedules-0-timezone").press("Tab")  # a change event: the live preview
    expect(page.locator("#schedules-0 .sync-cron-live")).to_contain_text("At 02:30")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    return SyncClient.objects.get(name="products")


def watch_run_to_the_end(page: Page, run_id: int, screenshot) -> None:
    page.click(f".messagelist a[href$='/syncrun/{run_id}/change/']")
    page.evaluate("window.stillTheSamePage = true")
    expect(page.locator("#progress-phase")).to_contain_text("fetching", timeout=RUN_TIMEOUT_MS)
    assert page.locator("#progress-percent").inner_text() != "100%", "no 100% while still fetching"
    screenshot(page, "run-running")
    expect(page.locator("#run-progress")).to_have_attribute("data-final", "true", timeout=RUN_TIMEOUT_MS)
    assert page.evaluate("window.stillTheSamePage") is True, "progress came without a reload"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_operator_schedules_runs_watches_pauses_and_resumes_a_client(
    page: Page, operator, api: FakeApi, screenshot
) -> None:
    api.configure(page_delay=0.2)  # 10 pages of 25: about two seconds of visible progress
    admin_login(page, "operator", PASSWORD)
    client = create_connection_and_client(page, api)

    # The saved schedule in words, with beat's next five fire times in Berlin time and a note
    # on the coming DST change (Europe/Berlin changes twice within any year).
    preview = page.locator("#schedules-0 td.field-preview")
    expect(preview.locator(".sync-cron-words")).to_have_text("At 02:30")
    shown = preview.locator("ol.sync-fires li").all_inner_texts()
    assert shown == [f.strftime(TIME_FORMAT) for f in cron_next_fires("30 2 * * *", "Europe/Berlin")]
    assert all(" CET" in t or " CEST" in t for t in shown)
    assert "does not exist" in preview.locator(".sync-notes").first.inner_text()

    page.click("#run-now-button")
    run_id = queued_run_id(page)
    watch_run_to_the_end(page, run_id, screenshot)
    assert page.locator("#progress-percent").inner_text() == "100%"
    assert re.fullmatch(r"finished .+, took \d+\.\ds", page.locator("#progress-phase").inner_text())
    for field, value in {"fetched": "250", "created": "250", "updated": "0", "failed": "0"}.items():
        assert page.locator(f"#count-{field}").inner_text() == value, field
    assert page.locator("#progress-pages").inner_text() == "11"  # the 11th, empty page ends the listing
    done, total = page.locator("#progress-batches-done"), page.locator("#progress-batches-total")
    assert done.inner_text() == total.inner_text() != "0"
    run = SyncRun.objects.get(pk=run_id)
    assert (run.status, run.created, run.triggered_by) == ("succeeded", 250, "operator")

    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")
    page.click("#pause-button")
    page.fill("#id_reason", "supplier maintenance")
    page.fill("#id_hours", "2")
    page.click("#pause-submit")
    expect(page.locator("#client-state")).to_contain_text("paused")
    expect(page.locator("#client-console")).to_contain_text("supplier maintenance")
    assert page.locator("#pause-button").count() == 0
    client.refresh_from_db()
    assert (client.state, client.pause_reason, client.paused_by) == (
        "paused",
        "supplier maintenance",
        "operator",
    )
    assert client.paused_until - timezone.now() > timedelta(hours=1, minutes=59)

    page.goto("/admin/syncers/syncclient/")
    row = page.locator("#result_list tbody tr", has_text="products")
    expect(row.locator("td.field-state_column")).to_contain_text("supplier maintenance")
    expect(row.locator("td.field-last_run")).to_contain_text("succeeded")
    assert row.locator("td.field-recent_runs svg rect").count() == 1
    screenshot(page, "client-list")

    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")
    page.click("#resume-button")
    expect(page.locator("#client-state")).to_contain_text("active")
    client.refresh_from_db()
    assert (client.state, client.pause_reason) == ("active", "")
    audit = LogEntry.objects.filter(object_id=str(client.pk)).order_by("pk")
    ran, paused, resumed = [entry.change_message for entry in audit][-3:]
    assert ran == f"Run now: queued run #{run_id}"
    assert paused.startswith("Paused until ") and paused.endswith(": supplier maintenance")
    assert resumed == "Resumed (missed runs skipped)"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_dashboard_is_linked_from_the_index_and_shows_charts_and_health(
    page: Page, operator, api: FakeApi, make_client, screenshot
) -> None:
    client = make_client()
    now = timezone.now()
    for status in ["succeeded", "succeeded", "partial", "failed"]:
        SyncRun.objects.create(
            client=client,
            trigger="admin",
            status=status,
            started_at=now,
            finished_at=now + timedelta(seconds=3),
        )
    admin_login(page, "operator", PASSWORD)
    expect(page.locator("#beat-banner")).to_contain_text("Beat looks stopped")  # no beat runs in tests

    page.click("#sync-dashboard-link a")
    expect(page.locator("#runs-per-hour svg.sync-chart")).to_be_visible()
    assert page.locator("#runs-per-hour svg rect title", has_text="2 succeeded").count() == 1
    assert page.locator("#runs-per-day svg rect").count() == 3  # succeeded, partial, failed today
    expect(page.locator("#health-workers")).to_contain_text("ok")
    expect(page.locator("#health-broker")).to_contain_text("ok")
    expect(page.locator("#health-beat")).to_contain_text("trouble")
    expect(page.locator("#failing-clients")).to_contain_text("products")
    assert "http" not in page.locator("#runs-per-hour svg").inner_html(), "charts load nothing"
    screenshot(page, "dashboard")


@pytest.fixture
def pauser(django_user_model):
    """Staff who may see sync clients and pause/resume them, nothing else."""
    user = django_user_model.objects.create_user("pauser", "pauser@example.com", PASSWORD, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_syncclient", "pause_syncclient"])
    )
    return user


@pytest.mark.django_db(transaction=True)
def test_pause_only_operator_sees_pause_but_not_run_now_and_a_forged_run_now_is_refused(
    page: Page, pauser, make_client
) -> None:
    client = make_client()
    admin_login(page, "pauser", PASSWORD)

    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")
    expect(page.locator("#pause-button")).to_be_visible()
    for absent in ["#run-now-button", "#test-fetch-button", "input[name=_save]"]:
        assert page.locator(absent).count() == 0, absent
    page.goto("/admin/syncers/syncclient/")
    assert page.locator("select[name=action] option[value=pause]").count() == 1
    assert page.locator("select[name=action] option[value=run_now]").count() == 0

    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    refused = page.request.post(
        f"/admin/syncers/syncclient/{client.pk}/run-now/", form={"csrfmiddlewaretoken": token}
    )
    assert refused.status == 403
    assert not SyncRun.objects.exists()

    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")
    page.click("#pause-button")
    page.fill("#id_reason", "only pausing is allowed")
    page.click("#pause-submit")
    expect(page.locator("#client-state")).to_contain_text("paused")
    expect(page.locator("#resume-button")).to_be_visible()
    assert page.locator("#resume-run-button").count() == 0, "resume-and-run needs the run permission"
