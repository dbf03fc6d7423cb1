"""Live run pages in a real headless Chromium at 1400x900, against a real worker and the fake
API slowed down: while a run is live, its page and its client's page update together from one
progress poll, and at every moment no element contradicts another (state badge, title, status
and count fields, Cancel button, bar); a listing of unknown length never shows a percentage;
a finished run shows its final state. Screenshots are saved as artefacts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from fakeapi.control import FakeApi
from syncers.models import SyncRun
from syncers.services import client_pause, sync_run_request

from .test_admin_browser import PASSWORD, admin_login

pytest_plugins = ["tests.browser"]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]

RUN_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)


# One consistent read of everything the run page shows about the run (page.evaluate runs
# between two event-loop tasks, so never in the middle of a poll's update).
RUN_PAGE_SNAPSHOT = """() => {
  const box = document.querySelector('#run-progress');
  const text = (sel) => { const el = document.querySelector(sel); return el ? el.textContent.trim() : null; };
  const field = (name) => text('.field-' + name + ' .readonly');
  const cancel = document.querySelector('#cancel-run-button');
  const track = box.querySelector('.sync-progress-bar');
  return {
    polls: Number(box.dataset.polls || 0), final: box.dataset.final === 'true', status: box.dataset.status,
    badge: text('#progress-status'), statusField: field('live_status'), h2: text('#run-title'),
    crumb: text('.breadcrumbs [data-field=title]'), finished: field('live_finished_at'),
    docTitle: document.title, cancelVisible: !!(cancel && cancel.offsetParent !== null),
    progress: text('#progress-percent'), phase: text('#progress-phase'), cancelNote: text('#progress-cancel'),
    indeterminate: track.classList.contains('sync-indeterminate'), valuenow: track.getAttribute('aria-valuenow'),
    fillWidth: box.querySelector('.sync-progress-fill').getBoundingClientRect().width,
    trackWidth: track.getBoundingClientRect().width,
    console: ['pages', 'fetched', 'created', 'updated', 'unchanged', 'failed'].map(
      (k) => text(k === 'pages' ? '#progress-pages' : '#count-' + k)),
    fields: ['pages', 'fetched', 'created', 'updated', 'unchanged', 'failed'].map((k) => field('live_' + k)),
  };
}"""

CLIENT_PAGE_SNAPSHOT = """() => {
  const box = document.querySelector('#run-progress');
  if (!box) { return null; }
  const cancel = document.querySelector('#cancel-run-button');
  return {
    polls: Number(box.dataset.polls || 0), final: box.dataset.final === 'true', status: box.dataset.status,
    badge: document.querySelector('#progress-status').textContent.trim(),
    cancelVisible: !!(cancel && cancel.offsetParent !== null),
    progress: document.querySelector('#progress-percent').textContent.trim(),
    state: document.querySelector('#client-state').innerText.trim(),
  };
}"""


def label_of(status: str) -> str:
    return SyncRun.Status(status).label


def assert_run_page_agrees(s: dict[str, Any]) -> None:
    """Every element of one snapshot tells the same story."""
    label = label_of(s["status"])
    assert s["badge"] == label and s["statusField"] == label, s
    assert s["h2"].endswith(f"({s['status']})") and s["h2"] in s["docTitle"] and s["crumb"] == s["h2"], s
    assert (s["finished"] != "-") is s["final"], s
    assert s["console"] == s["fields"], s  # the summary's counts and the Counts section
    assert s["cancelVisible"] is (not s["final"] and not s["cancelNote"]), s  # no Stop once asked
    if s["final"]:
        assert s["progress"] == "100%" and s["phase"].startswith("finished ") and label not in s["phase"], s
        assert s["fillWidth"] == pytest.approx(s["trackWidth"], abs=1), s
    else:
        assert s["status"] in ("queued", "running") and "100%" not in s["progress"], s


def assert_client_page_agrees(s: dict[str, Any]) -> None:
    assert s["badge"] == label_of(s["status"]), s
    assert s["cancelVisible"] is (not s["final"]), s
    assert (s["progress"] == "100%") is s["final"], s
    # The client's badge says the run is live while it is, and the client's own state after.
    assert (s["state"] == s["status"]) if not s["final"] else ("running" not in s["state"]), s


def watch(run_page: Page, client_page: Page | None = None) -> list[dict[str, Any]]:
    """Snapshots of the run page (and the client page) until the run page shows the run final."""
    snapshots = []
    for _ in range(2_000):
        s = run_page.evaluate(RUN_PAGE_SNAPSHOT)
        assert_run_page_agrees(s)
        if client_page is not None and (c := client_page.evaluate(CLIENT_PAGE_SNAPSHOT)) is not None:
            assert_client_page_agrees(c)
        snapshots.append(s)
        if s["final"]:
            return snapshots
        run_page.wait_for_timeout(100)
    raise AssertionError(f"the run page never showed the run final: {snapshots[-1]}")


def rest_client(make_client, name: str, **config: Any):
    return make_client(name=name, handler="rest", batch_size=25, config={"page_size": 25, **config})


def test_a_live_run_page_and_its_client_page_agree_at_every_poll_until_the_end(
    page: Page, operator, make_client, api: FakeApi, screenshot
) -> None:
    api.configure(page_delay=0.5)  # 11 pages of 25: several seconds of visible progress
    client = rest_client(
        make_client, "live-products", pagination="page", path="/products", total_path="total"
    )
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="operator")
    page.set_viewport_size(VIEWPORT)
    admin_login(page, "operator", PASSWORD)
    client_page = page.context.new_page()
    client_page.set_viewport_size(VIEWPORT)
    client_page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")
    page.goto(f"/admin/syncers/syncrun/{run.pk}/change/")

    snapshots = watch(page, client_page)

    live = [s for s in snapshots if not s["final"]]
    assert len({s["polls"] for s in live}) >= 3, "the run was watched over several polls"
    percents = [int(m.group(1)) for s in live if (m := re.match(r"(\d+)% of 250 records", s["progress"]))]
    assert percents and percents == sorted(percents), "the API gave a total: a rising percentage"
    done = snapshots[-1]
    assert (done["status"], done["console"][0]) == ("succeeded", "11")  # the 11th, empty page ends it
    expect(client_page.locator("#run-progress")).to_have_attribute(
        "data-final", "true", timeout=RUN_TIMEOUT_MS
    )
    assert_client_page_agrees(client_page.evaluate(CLIENT_PAGE_SNAPSHOT))
    screenshot(page, "live-run-finished")
    screenshot(client_page, "live-run-client-page")


def test_a_cursor_listing_never_shows_a_percentage_only_pages_records_and_rate(
    page: Page, operator, make_client, api: FakeApi, screenshot
) -> None:
    api.configure(page_delay=0.5)
    client = rest_client(make_client, "cursor-products", pagination="cursor", path="/products/cursor")
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="operator")
    page.set_viewport_size(VIEWPORT)
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncrun/{run.pk}/change/")
    expect(page.locator("#progress-phase")).to_contain_text("fetching", timeout=RUN_TIMEOUT_MS)
    screenshot(page, "live-run-cursor")

    snapshots = watch(page)

    for s in snapshots[:-1]:
        assert "%" not in s["progress"], f"a listing of unknown length showed a percentage: {s['progress']}"
        assert s["indeterminate"] and s["valuenow"] is None, s
    assert any(re.search(r"\d+ pages? · \d+ records fetched · \d+ stored · [\d.]+ records/s", s["progress"])
               for s in snapshots[:-1])  # fmt: skip
    assert snapshots[-1]["progress"] == "100%" and snapshots[-1]["status"] == "succeeded"


def test_run_now_on_a_paused_client_is_refused_with_the_reason(
    page: Page, operator, make_client, screenshot
) -> None:
    client = client_pause(client=make_client(name="paused-products"), who="ops", reason="API migration")
    page.set_viewport_size(VIEWPORT)
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")

    button = page.locator("#run-now-button")
    expect(button).to_be_disabled()
    assert "paused by ops: API migration" in button.get_attribute("title")
    expect(page.locator("#resume-run-button")).to_have_text("Resume and run once now")
    screenshot(page, "paused-client-run-now")

    button.evaluate("b => { b.disabled = false; b.click(); }")  # a forged click on the disabled button
    expect(page.locator(".messagelist .error")).to_contain_text("paused by ops: API migration")
    assert not SyncRun.objects.filter(client=client).exists()


def test_after_cancel_the_run_page_offers_no_stop_and_ends_cancelled_in_agreement(
    page: Page, operator, make_client, api: FakeApi, screenshot
) -> None:
    api.configure(page_delay=0.5)
    client = rest_client(make_client, "cancelled-products", pagination="cursor", path="/products/cursor")
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="operator")
    page.set_viewport_size(VIEWPORT)
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncrun/{run.pk}/change/")
    expect(page.locator("#progress-phase")).to_contain_text("fetching", timeout=RUN_TIMEOUT_MS)

    page.click("#cancel-run-button")
    expect(page.locator(".messagelist .success")).to_contain_text(f"run #{run.pk}")
    snapshots = watch(page)

    assert all(not s["cancelVisible"] for s in snapshots), "no Stop button once the cancel was asked for"
    assert snapshots[-1]["status"] == "cancelled" and snapshots[-1]["progress"] == "100%"
    screenshot(page, "live-run-cancelled")


def test_the_client_list_badge_of_a_live_run_follows_its_progress_and_stops_saying_running(
    page: Page, operator, make_client, api: FakeApi, screenshot
) -> None:
    api.configure(page_delay=0.3)  # several seconds of a live run on the list
    client = rest_client(make_client, "list-live", pagination="page", path="/products", total_path="total")
    rest_client(make_client, "list-idle", pagination="page", path="/products", total_path="total")
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="operator")
    polled: list[str] = []
    page.on("request", lambda r: polled.append(r.url) if "/progress/" in r.url else None)
    page.set_viewport_size(VIEWPORT)
    admin_login(page, "operator", PASSWORD)
    page.goto("/admin/syncers/syncclient/")

    live_row = page.locator("#result_list tr", has_text="list-live")
    box = live_row.locator("[data-progress-url]")
    expect(box).to_have_count(1)
    assert page.locator("[data-progress-url]").count() == 1, "one poll box per live run, none for idle"
    expect(live_row.locator(".field-state_column")).to_contain_text(re.compile("queued|running"))
    expect(box).to_have_attribute("data-final", "true", timeout=RUN_TIMEOUT_MS)

    state = live_row.locator(".field-state_column")
    expect(state).not_to_contain_text("running")
    expect(state).not_to_contain_text("queued")
    expect(state).to_contain_text("active")
    assert polled and {u.rsplit("/syncrun/", 1)[1] for u in polled} == {f"{run.pk}/progress/"}
    settled = len(polled)
    page.wait_for_timeout(1_500)  # longer than three poll intervals
    assert len(polled) == settled, "polling stops once the run is final"
    screenshot(page, "live-run-client-list")
