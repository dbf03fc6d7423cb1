"""A worker that dies mid-run loses nothing: the next run resumes at the committed checkpoint
and the reconciler re-sends what the broker lost."""

from __future__ import annotations

import uuid

import pytest

from fakeapi.control import FakeApi
from syncers.models import SyncBatch, SyncedRecord, SyncRun
from syncers.pipeline import reconcile
from syncers.services import sync_run_request

from .processes import start_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]


def test_worker_killed_mid_run_loses_nothing_and_resumes_from_checkpoint(api: FakeApi, make_client) -> None:
    api.reset(records=1000, page_delay=0.15)
    queue = f"crash-{uuid.uuid4().hex[:6]}"
    client = make_client(queue=queue, batch_size=25)
    doomed = start_worker(queues=queue)
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.COMMAND, who="test")
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).pages >= 5, timeout=30, what="five pages staged")

    doomed.kill()  # SIGKILL to the main process and its pool children: batches in flight
    client.refresh_from_db()
    checkpoint_at_kill = client.checkpoint["next_page"]
    api.configure(page_delay=0)
    survivor = start_worker(queues=queue)
    try:

        def recovered() -> bool:
            reconcile()  # what beat runs every few seconds
            done = SyncRun.objects.filter(client=client, trigger=SyncRun.Trigger.RECOVERY, status="succeeded")
            return done.exists() and not SyncBatch.objects.filter(state=SyncBatch.State.PENDING).exists()

        wait_until(recovered, timeout=90, interval=1, what="a recovery run to finish")
    finally:
        survivor.stop()

    served = {str(r["id"]): r for r in api.records()}
    stored = dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "data"))
    assert stored == served, "every served record is stored exactly once, newest version"
    crashed = SyncRun.objects.get(pk=run.pk)
    assert crashed.status == SyncRun.Status.ABANDONED
    assert crashed.created > 0, "an abandoned run keeps the counts of the batches it loaded"
    runs = SyncRun.objects.filter(client=client)
    assert sum(r.created for r in runs) == len(stored) == 1000, "each created row is counted by one run"
    assert not SyncRun.objects.filter(status__in=["queued", "running"]).exists()
    pages = api.stats()["pages"]
    assert checkpoint_at_kill > 5
    committed = range(1, checkpoint_at_kill)
    assert all(pages[str(p)] == 1 for p in committed), f"committed pages requested again: {pages}"
    # Only pages read but not committed when the worker died may be asked for twice: the one
    # being staged, two in the read-ahead queue and one being read (fetch.prefetched, depth 2).
    assert sum(pages.values()) <= 21 + 4, pages
