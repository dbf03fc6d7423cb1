"""The dashboard's numbers and the stale-beat banner: runs per hour and day by outcome (every
bucket present), records synced, slowest and most-failing clients, charts drawn as inline SVG
that loads nothing, and a banner on every admin page while beat's heartbeat is stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from syncers.console import charts
from syncers.console.dashboard import (
    beat_warning,
    most_failing_clients,
    records_synced,
    runs_per_bucket,
    slowest_clients,
)
from syncers.models import FailedRecord, SyncRun

NOW = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)


def run(client, status: str, queued: datetime, seconds: float = 1.0, **counts: int) -> SyncRun:
    return SyncRun.objects.create(
        client=client,
        trigger="schedule",
        status=status,
        queued_at=queued,
        started_at=queued,
        finished_at=queued + timedelta(seconds=seconds),
        **counts,
    )


@pytest.mark.django_db
def test_runs_are_counted_per_hour_and_per_day_by_outcome(make_client) -> None:
    client = make_client()
    run(client, "succeeded", NOW - timedelta(minutes=10))
    run(client, "succeeded", NOW - timedelta(minutes=20))
    run(client, "skipped_paused", NOW - timedelta(minutes=25))
    run(client, "failed", NOW - timedelta(hours=3))
    run(client, "cancelled", NOW - timedelta(days=2))
    run(client, "succeeded", NOW - timedelta(days=30))  # outside both windows

    hours = runs_per_bucket(unit="hour", count=24, now=NOW)
    assert len(hours) == 24 and hours[-1].start == datetime(2026, 6, 10, 12, tzinfo=UTC)
    assert hours[-1].counts == {"succeeded": 2, "skipped": 1}
    assert hours[-4].counts == {"failed": 1}
    assert sum(b.total for b in hours) == 4

    days = runs_per_bucket(unit="day", count=14, now=NOW)
    assert len(days) == 14 and days[-1].start == datetime(2026, 6, 10, tzinfo=UTC)
    assert days[-1].counts == {"succeeded": 2, "skipped": 1, "failed": 1}
    assert days[-3].counts == {"stopped": 1}


@pytest.mark.django_db
def test_records_slowest_and_most_failing_clients(make_client) -> None:
    fast, slow, flaky = make_client("fast"), make_client("slow"), make_client("flaky")
    since = timezone.now() - timedelta(days=7)
    recent = timezone.now() - timedelta(hours=1)
    run(fast, "succeeded", recent, seconds=2, fetched=100, created=100)
    run(slow, "succeeded", recent, seconds=40, fetched=10, created=5, updated=5)
    run(slow, "partial", recent, seconds=60, fetched=10, failed=1)
    run(flaky, "failed", recent)
    run(flaky, "failed", recent)
    FailedRecord.objects.create(client=slow, payload="{}", reason="bad")

    assert records_synced(since=since) == {
        "fetched": 120,
        "created": 105,
        "updated": 5,
        "unchanged": 0,
        "failed": 1,
    }
    slowest = slowest_clients(since=since)
    assert [(s.name, s.runs, s.average, s.longest) for s in slowest] == [
        ("slow", 2, 50.0, 60.0),
        ("fast", 1, 2.0, 2.0),
    ]
    failing = most_failing_clients(since=since)
    assert [(s.name, s.failed_runs, s.failed_records) for s in failing] == [("flaky", 2, 0), ("slow", 0, 1)]


def test_charts_are_inline_svg_that_escape_what_they_show() -> None:
    spark = charts.sparkline(
        [charts.SparkRun(pk=1, status="failed", seconds=3.0, label='<script>alert("x")</script>')]
    )
    assert spark.startswith("<svg") and "<script>" not in spark and "&lt;script&gt;" in spark
    assert charts.colour("failed") in spark
    bars = charts.stacked_bars(
        [charts.Bucket(start=NOW, counts={"succeeded": 3, "failed": 1})], label_format="%H:%M"
    )
    assert bars.count("<rect") == 2 and "3 succeeded" in bars and "http" not in bars.replace("xmlns", "")


def reconcile_entry(last_run_at: datetime | None) -> PeriodicTask:
    every, _ = IntervalSchedule.objects.get_or_create(every=30, period="seconds")
    return PeriodicTask.objects.create(
        name="syncers-reconcile", task="syncers.reconcile", interval=every, last_run_at=last_run_at
    )


@pytest.mark.django_db
@override_settings(SYNC_RECONCILE_EVERY=30)
def test_a_stale_beat_puts_a_banner_on_every_admin_page(admin_client) -> None:
    pages = ["/admin/", "/admin/syncers/syncclient/", "/admin/gateway/connection/"]
    for url in pages:  # no heartbeat at all
        assert 'id="beat-banner"' in admin_client.get(url).content.decode(), url
    banner = beat_warning()  # says what was seen once, no "(beat has never run (...))"
    assert banner.startswith("Beat looks stopped: never ran (no heartbeat yet). Schedules are not firing"), (
        banner
    )

    entry = reconcile_entry(timezone.now() - timedelta(seconds=60))  # within max(3 * 30, 90) s
    for url in pages:
        assert 'id="beat-banner"' not in admin_client.get(url).content.decode(), url

    # Beat wrote its entry at start an hour ago (a row written since the last heartbeat is a
    # beat still starting).
    PeriodicTask.objects.filter(pk=entry.pk).update(
        last_run_at=timezone.now() - timedelta(seconds=120), date_changed=timezone.now() - timedelta(hours=1)
    )
    page = admin_client.get("/admin/syncers/syncrun/").content.decode()
    assert 'id="beat-banner"' in page and "Beat looks stopped: last heartbeat 120s ago. Schedules" in page


@pytest.mark.django_db
def test_the_banner_is_for_staff_only_not_the_login_page(client) -> None:
    assert 'id="beat-banner"' not in client.get("/admin/login/").content.decode()


@pytest.mark.django_db
def test_dashboard_needs_the_view_permission_on_all_clients(client, django_user_model) -> None:
    user = django_user_model.objects.create_user("nobody", password="x", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/syncers/syncclient/dashboard/").status_code == 403


@pytest.mark.django_db
def test_the_dashboard_page_does_not_wait_for_health_which_comes_as_json(
    admin_client, django_user_model
) -> None:
    page = admin_client.get("/admin/syncers/syncclient/dashboard/").content.decode()
    assert 'data-health-url="/admin/syncers/syncclient/dashboard/health/"' in page and "checking" in page

    health = admin_client.get("/admin/syncers/syncclient/dashboard/health/").json()

    assert [c["name"] for c in health["checks"]] == ["beat", "workers", "broker"]
    staff = django_user_model.objects.create_user("staff", "s@example.com", "pw", is_staff=True)
    admin_client.force_login(staff)
    admin_client.raise_request_exception = False
    assert admin_client.get("/admin/syncers/syncclient/dashboard/health/").status_code == 403
