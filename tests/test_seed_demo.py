"""`make run` seeds the demo with `sync_seed_demo --run-now`; restarting it must not queue
another demo run once the demo has synced (its schedules keep it fresh)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from syncers.models import SyncClient, SyncRun


@pytest.mark.django_db
def test_restarting_make_run_queues_no_demo_run_once_the_demo_synced() -> None:
    call_command("sync_seed_demo", api_url="http://127.0.0.1:9", stdout=StringIO())  # seed only
    demo = SyncClient.objects.get(name="demo-products")
    SyncRun.objects.create(client=demo, trigger="command", status="succeeded")
    out = StringIO()

    call_command("sync_seed_demo", "--run-now", api_url="http://127.0.0.1:9", stdout=out)

    assert SyncRun.objects.count() == 1, "no demo run queued on a restart"
    assert "demo clients already synced; no run queued" in out.getvalue()
