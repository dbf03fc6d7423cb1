"""No admin page of the product scrolls sideways at 1400x900, however long its data: long
names, external ids, URLs and errors wrap or are cut short with the full text on hover or on
the detail page. Checked in a real headless Chromium with
`document.documentElement.scrollWidth <= innerWidth` (and no list scrolls inside its own box);
a screenshot of each page is kept as an artefact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from gateway.models import Connection
from syncers.models import FailedRecord, SyncClient, SyncedRecord, SyncRun, SyncSchedule
from syncers.models.plugins import InstalledPlugin, PluginAuditEntry, PluginRun

from .test_admin_browser import PASSWORD, admin_login

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1400, "height": 900}
LONG_ID = "sku-" + "0123456789abcdef" * 15  # 244 characters, no space to break at
LONG_ERROR = (
    "PayloadError: https://api.example.com/v2/products?cursor=" + "eyJwYWdlIjozM30" * 40 + " answered 422: "
) * 3
LONG_NAME = "warehouse-" + "inventory-" * 8 + "eu-central"  # a 100-character slug
WIDEST_TIME = datetime(2026, 9, 30, 12, 58, tzinfo=UTC)


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)


@pytest.fixture
def long_data() -> dict[str, int]:
    """One of everything the product shows, each with the longest values it accepts."""
    conn = Connection.objects.create(
        name=LONG_NAME,
        base_url="https://api.example.com/" + "segment/" * 24,
        connect_timeout=2,
        read_timeout=10,
    )
    client = SyncClient.objects.create(name=LONG_NAME, connection=conn, handler="demo_products", config={})
    SyncSchedule.objects.create(
        client=client, kind="cron", cron="*/5 1-3,22-23 * * 1-5", timezone="America/Argentina/Buenos_Aires"
    )
    now = timezone.now()
    # Ids of a site that has run for a while (7 digits: 200 clients every 5 minutes for a month),
    # and the same whatever ran before in this test database.
    run = SyncRun.objects.create(
        pk=2_000_001, client=client, trigger="admin", status="failed", error=LONG_ERROR, triggered_by=LONG_NAME,
        queued_at=now - timedelta(minutes=3), started_at=now - timedelta(minutes=3), finished_at=now,
    )  # fmt: skip
    SyncRun.objects.create(
        pk=2_000_002, client=client, trigger="schedule", status="running", started_at=now, pages=3
    )
    failed = FailedRecord.objects.create(
        pk=3_000_001, client=client, run=run, external_id=LONG_ID, record_key=LONG_ID, reason=LONG_ERROR,
        payload=json.dumps({"id": LONG_ID, "description": LONG_ERROR}),
    )  # fmt: skip
    # A second client: lists then show their filter sidebars (by client), the narrowest layout.
    other = SyncClient.objects.create(name="other-" + LONG_NAME[6:], connection=conn, handler="demo_products")
    FailedRecord.objects.create(
        pk=3_000_002,
        client=other,
        run=SyncRun.objects.create(  # its list row: "partial, 47 minutes ago", the widest last run
            pk=2_000_003, client=other, trigger="command", status="partial", queued_at=now - timedelta(minutes=47)
        ),
        external_id=LONG_ID[::-1], record_key=LONG_ID[::-1], reason=LONG_ERROR, payload="{}",
    )  # fmt: skip
    # The widest time Django prints ("Sept. 30, 2026, 12:58 p.m."), whatever the hour of the test.
    FailedRecord.objects.update(created_at=WIDEST_TIME, last_seen_at=WIDEST_TIME)
    SyncedRecord.objects.create(
        client=client,
        external_id=LONG_ID,
        data={"id": LONG_ID},
        content_hash="0" * 32,
        source_seq=1,
        created_batch=1,
    )
    plugin = InstalledPlugin.objects.create(
        name=LONG_NAME, version="1.0.0-" + "rc" * 17, description=LONG_ERROR, last_error=LONG_ERROR
    )
    PluginRun.objects.create(
        plugin=LONG_NAME, kind="action", name=LONG_ID[:200], status="failed", error=LONG_ERROR
    )
    PluginAuditEntry.objects.create(
        plugin=LONG_NAME, event="denied", resource=LONG_ID[:200], detail=LONG_ERROR
    )
    return {"client": client.pk, "run": run.pk, "failed": failed.pk, "conn": conn.pk, "plugin": plugin.pk}


@pytest.fixture
def mixed_schedules(long_data: dict[str, int]) -> int:
    """A client with every kind of schedule, bounded and with extra context: its schedules
    inline shows the inputs of all three kinds at once, its widest form."""
    now = timezone.now()
    mixed = SyncClient.objects.create(
        name=LONG_NAME[:-4] + "mix", connection_id=long_data["conn"], handler="demo_products", config={}
    )
    SyncSchedule.objects.create(
        client=mixed, kind="cron", cron="*/5 1-3,22-23 * * 1-5", timezone="America/Argentina/Buenos_Aires",
        end=now + timedelta(days=30), params={"updated_since": "2026-01-01", "region": "eu-central"}, full=True,
    )  # fmt: skip
    SyncSchedule.objects.create(
        client=mixed, kind="interval", every=15, period="minutes",
        start=now - timedelta(days=1), end=now + timedelta(days=30), max_runs=100,
    )  # fmt: skip
    SyncSchedule.objects.create(client=mixed, kind="once", run_at=now + timedelta(hours=2))
    return mixed.pk


PAGES = [
    ("index", "/admin/"),
    ("dashboard", "/admin/syncers/syncclient/dashboard/"),
    ("client-list", "/admin/syncers/syncclient/"),
    ("client-change", "/admin/syncers/syncclient/{client}/change/"),
    ("client-change-mixed-schedules", "/admin/syncers/syncclient/{mixed}/change/"),
    ("run-list", "/admin/syncers/syncrun/"),
    ("run-change", "/admin/syncers/syncrun/{run}/change/"),
    ("connection-list", "/admin/gateway/connection/"),
    ("connection-change", "/admin/gateway/connection/{conn}/change/"),
    ("plugin-list", "/admin/syncers/installedplugin/"),
    ("plugin-change", "/admin/syncers/installedplugin/{plugin}/change/"),
    ("plugin-runs", "/admin/syncers/pluginrun/"),
    ("plugin-audit", "/admin/syncers/pluginauditentry/"),
    ("failed-list", "/admin/syncers/failedrecord/"),
    ("failed-change", "/admin/syncers/failedrecord/{failed}/change/"),
    ("synced-list", "/admin/syncers/syncedrecord/"),
    ("periodic-tasks", "/admin/django_celery_beat/periodictask/"),
]

OVERFLOW = """() => {
  const boxes = [...document.querySelectorAll('#changelist .results, .inline-group .tabular, fieldset')]
    .filter((el) => el.scrollWidth > el.clientWidth + 1)
    .map((el) => (el.id || el.className) + ': ' + el.scrollWidth + ' > ' + el.clientWidth);
  return {page: document.documentElement.scrollWidth, inner: window.innerWidth, boxes};
}"""


@pytest.mark.parametrize(("name", "url"), PAGES, ids=[name for name, _ in PAGES])
def test_no_product_page_scrolls_sideways_at_1400px(
    page: Page, operator, long_data: dict[str, int], name: str, url: str, screenshot, request
) -> None:
    ids = dict(long_data)
    if "{mixed}" in url:  # only here: a second client would add filters to other lists
        ids["mixed"] = request.getfixturevalue("mixed_schedules")
    page.set_viewport_size(VIEWPORT)
    admin_login(page, "operator", PASSWORD)
    response = page.goto(url.format(**ids))
    assert response is not None and response.status == 200, url
    assert page.locator("#content").count() == 1

    seen = page.evaluate(OVERFLOW)
    screenshot(page, f"fit-{name}", width=VIEWPORT["width"])
    assert seen["page"] <= seen["inner"], f"{url} scrolls sideways: {seen}"
    assert not seen["boxes"], f"{url} has a box that scrolls sideways: {seen['boxes']}"


# Every word of at most 12 letters, digits or underscores in a list's cells (a status, "minutes",
# "data_syncer", a name's parts between hyphens) that the browser drew on two lines. Cut-short
# cells (.sync-clip) keep one line by design; long data (a token over 24 characters without a
# space: an external id, a URL) may break anywhere.
SPLIT_WORDS = """() => {
  const split = [];
  const walker = document.createTreeWalker(document.querySelector('#result_list'), NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest('.sync-clip')) continue;
    for (const token of node.data.matchAll(/\\S+/g)) {
      if (token[0].length > 24) continue;  // long data (a URL, an id, a time zone path): may break anywhere
      for (const m of token[0].matchAll(/\\w+/g)) {
        if (m[0].length > 12) continue;
        const range = document.createRange();
        range.setStart(node, token.index + m.index);
        range.setEnd(node, token.index + m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (lines.size > 1) split.push(token[0]);
      }
    }
  }
  return split;
}"""
LISTS = [(name, url) for name, url in PAGES if name.endswith(("-list", "-runs", "-audit", "-tasks"))]


@pytest.mark.parametrize(("name", "url"), LISTS, ids=[name for name, _ in LISTS])
def test_no_list_splits_a_short_word_across_two_lines(
    page: Page, operator, long_data: dict[str, int], name: str, url: str
) -> None:
    """Long data wraps anywhere, but the columns beside it keep their words whole: no
    "succee / ded", "0 minut / es ago" or "data_synce / r" in a squeezed column."""
    page.set_viewport_size(VIEWPORT)
    admin_login(page, "operator", PASSWORD)
    page.goto(url)
    assert page.locator("#result_list").count() == 1, url
    assert page.evaluate(SPLIT_WORDS) == [], f"{url} splits words across lines"


def test_the_index_shows_the_dashboard_link_as_one_line_of_text(page: Page, operator) -> None:
    page.set_viewport_size(VIEWPORT)
    admin_login(page, "operator", PASSWORD)
    link = page.locator("#sync-dashboard-link a")
    box = link.bounding_box()
    line = float(link.evaluate("a => parseFloat(getComputedStyle(a).lineHeight) || 20"))
    assert box is not None and box["height"] < 1.5 * line and box["width"] > 5 * box["height"], box
    link.click()
    assert page.url.endswith("/admin/syncers/syncclient/dashboard/")


def test_dashboard_charts_fill_their_panels_with_labelled_axes(page: Page, operator, long_data) -> None:
    page.set_viewport_size(VIEWPORT)
    admin_login(page, "operator", PASSWORD)
    page.goto("/admin/syncers/syncclient/dashboard/")
    for panel in ("#runs-per-hour", "#runs-per-day"):
        chart = page.locator(f"{panel} svg.sync-chart").bounding_box()
        room = page.locator(panel).bounding_box()
        assert chart is not None and room is not None and chart["width"] >= 0.95 * room["width"], (
            chart,
            room,
        )
        y_labels = page.locator(f"{panel} svg text[text-anchor=end]").evaluate_all(
            "ts => ts.map(t => t.textContent)"
        )
        assert y_labels[0] == "0" and len(y_labels) >= 2, y_labels  # a y axis from 0 to the peak
        sizes = page.locator(f"{panel} svg text").evaluate_all(
            "ts => ts.map(t => t.getBoundingClientRect().height)"
        )
        assert min(sizes) >= 12, f"axis labels render at least 12 px high: {sizes}"


SCHEDULE_INPUTS = [
    *("kind", "cron", "timezone", "every", "period", "run_at_0", "run_at_1", "start_0", "start_1"),
    *("end_0", "end_1", "max_runs", "params", "full", "enabled"),
]


def test_the_mixed_schedules_inline_keeps_every_input_and_still_fits_after_add_another(
    page: Page, operator, mixed_schedules: int, screenshot
) -> None:
    page.set_viewport_size(VIEWPORT)
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncclient/{mixed_schedules}/change/")
    shown = {
        "cron": ["cron", "timezone", "end_0"],
        "interval": ["every", "period", "start_0", "end_0", "max_runs"],
        "once": ["run_at_0"],
    }
    for row, kind in enumerate(["cron", "interval", "once"]):
        for name in SCHEDULE_INPUTS:  # every input is in the form, named as Django names it
            assert page.locator(f"#schedules-{row} [name='schedules-{row}-{name}']").count() == 1, (row, name)
        assert page.locator(f"#id_schedules-{row}-kind").input_value() == kind
        for name in shown[kind]:
            expect(page.locator(f"#id_schedules-{row}-{name}")).to_be_visible()
        for name in {"cron", "every", "run_at_0", "start_0", "max_runs"} - set(shown[kind]):
            expect(page.locator(f"#id_schedules-{row}-{name}")).to_be_hidden()

    page.click("#schedules-group .add-row a")
    expect(page.locator("#id_schedules-3-cron")).to_be_visible()  # a new row is a cron row
    page.select_option("#id_schedules-3-kind", "interval")
    expect(page.locator("#id_schedules-3-every")).to_be_visible()
    expect(page.locator("#id_schedules-3-cron")).to_be_hidden()
    for name in SCHEDULE_INPUTS:  # the cloned empty form, renumbered by Django's inlines.js
        assert page.locator(f"#schedules-3 [name='schedules-3-{name}']").count() == 1, name
    seen = page.evaluate(OVERFLOW)
    screenshot(page, "fit-client-change-mixed-schedules-added", width=VIEWPORT["width"])
    assert seen["page"] <= seen["inner"] and not seen["boxes"], seen
