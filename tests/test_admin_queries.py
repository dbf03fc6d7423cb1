"""The client list costs the same number of queries for 5 clients as for 50: state, current
run, next fire times, last run and sparkline all come from annotations and two prefetches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gateway.models import Connection
from syncers.models import SyncClient, SyncRun, SyncSchedule

STATUSES = ["succeeded", "failed", "partial", "running"]


def make_clients(connection_: Connection, start: int, count: int) -> None:
    now = timezone.now()
    for i in range(start, start + count):
        client = SyncClient.objects.create(
            name=f"client-{i:03d}", connection=connection_, handler="demo_products"
        )
        SyncSchedule.objects.create(client=client, kind="cron", cron="*/15 * * * *", timezone="Europe/Berlin")
        SyncSchedule.objects.create(client=client, kind="interval", every=5, period="minutes")
        if i % 3 == 0:
            SyncClient.objects.filter(pk=client.pk).update(state="paused", pause_reason="maintenance")
        SyncRun.objects.bulk_create(
            SyncRun(
                client=client,
                trigger="schedule",
                status=STATUSES[(i + n) % len(STATUSES)],
                started_at=now - timedelta(minutes=n),
                finished_at=now - timedelta(minutes=n) + timedelta(seconds=n + 1),
                fetched=10 * n,
            )
            for n in range(25)  # more than the sparkline shows
        )


def list_queries(admin_client, path: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(path)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


@pytest.mark.django_db
def test_client_list_query_count_does_not_grow_with_the_number_of_clients(admin_client) -> None:
    api = Connection.objects.create(name="api", base_url="http://127.0.0.1:9/")
    make_clients(api, 0, 5)
    few, page = list_queries(admin_client, "/admin/syncers/syncclient/")
    assert page.count('class="sync-sparkline"') == 5
    assert page.count("cron: ") == 5 and "CET" in page

    make_clients(api, 5, 45)
    many, page = list_queries(admin_client, "/admin/syncers/syncclient/")
    assert page.count('class="sync-sparkline"') == 50
    assert page.count("skipped while paused") == 17  # clients 0, 3, ..., 48
    assert many == few, f"{few} queries for 5 clients, {many} for 50"
    assert few <= 12, f"{few} queries: the page itself got more expensive"


@pytest.mark.django_db
def test_run_list_query_count_does_not_grow_with_the_number_of_runs(admin_client) -> None:
    api = Connection.objects.create(name="api", base_url="http://127.0.0.1:9/")
    make_clients(api, 0, 1)
    few, _ = list_queries(admin_client, "/admin/syncers/syncrun/")
    make_clients(api, 1, 3)
    many, page = list_queries(admin_client, "/admin/syncers/syncrun/")
    assert page.count("data-progress-url") > 1, "running runs get a live progress bar"
    assert many == few
