"""Cancelling a running run: it stops between pages, frees the lease, and loses nothing."""

from __future__ import annotations

import pytest

from fakeapi.control import FakeApi
from syncers.models import SyncBatch, SyncedRecord, SyncRun
from syncers.pipeline.lease import client_lease_name, leases
from syncers.selectors import run_wait_final
from syncers.services import run_cancel_request, sync_run_request

from .processes import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]


def test_a_cancelled_run_stops_between_pages_and_the_next_run_finishes_the_job(
    api: FakeApi, make_client
) -> None:
    api.reset(records=1000, page_delay=0.2)
    client = make_client()
    run = sync_run_request(client=client, trigger="admin", who="op")
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).pages >= 3, timeout=30, what="three pages")

    run_cancel_request(run=SyncRun.objects.get(pk=run.pk), who="op")
    cancelled = run_wait_final(run_id=run.pk, timeout=30)

    assert cancelled.status == "cancelled" and cancelled.error == "cancelled by op"
    assert cancelled.pages < 21, "it stopped before the end of the listing"
    assert leases().holder(client_lease_name(client.pk)) is None, "the lease is free at once"
    api.configure(page_delay=0)
    after = run_wait_final(run_id=sync_run_request(client=client, trigger="admin", who="op").pk, timeout=60)
    assert after.status == "succeeded"
    stored = dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "data"))
    assert stored == {str(r["id"]): r for r in api.records()}
    assert not SyncBatch.objects.filter(state="pending").exists()
    assert api.stats()["pages"]["1"] == 1, "the next run continued from the checkpoint"
