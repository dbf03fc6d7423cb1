"""Workers die or are stopped while batches load (faults 1 and 5): a killed pool child's batch
is delivered again, a killed worker's lost messages are re-sent by the reconciler, a warm
shutdown loses nothing at all; no batch is ever half-merged or merged twice."""

from __future__ import annotations

import json
import os
import time

import pytest

from syncers.models import SyncBatch, SyncedRecord, SyncRun
from tests.processes import wait_until

from .conftest import Scenario
from .harness import busy_loader, kill, load_marks, wait_for_pool, warm_stop
from .oracle import assert_checkpoint_staged

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def batch_in_flight(scenario: Scenario, pids: list[int]) -> tuple[int, SyncBatch, list[int]] | None:
    """(pid, batch, record ids) of a pending batch one of `pids` is merging right now, at least
    a few records in and a few records from the end (the slow handler's marks say which)."""
    for pid, rows in load_marks(scenario.procs.marker_dir).items():
        if pid not in pids or not rows or time.time() - rows[-1][0] > 1:
            continue
        for batch in SyncBatch.objects.filter(client=scenario.client, state=SyncBatch.State.PENDING):
            ids = [r["id"] for r in json.loads(batch.payload)]
            if rows[-1][1] in ids:
                done = len({r for _, r in rows if r in ids})
                if 3 <= done <= len(ids) - 5:
                    return pid, batch, ids
    return None


def assert_whole_or_nothing(batch: SyncBatch, ids: list[int]) -> None:
    """A batch's merge commits with its done flag: never some of its rows without the rest."""
    batch.refresh_from_db()
    stored = SyncedRecord.objects.filter(client_id=batch.client_id, external_id__in=[str(i) for i in ids])
    expected = len(ids) if batch.state == SyncBatch.State.DONE else 0
    assert stored.count() == expected, f"batch {batch.pk} ({batch.state}) has {stored.count()} rows stored"


def test_a_pool_child_killed_in_the_middle_of_a_batch_is_redelivered_and_loaded_once(
    scenario: Scenario,
) -> None:
    scenario.serve(records=100)
    client = scenario.make_client(slow_load=0.08, batch_size=25)  # 2 s per batch
    worker = scenario.worker(concurrency=1)
    (child,) = wait_for_pool(worker, 1)
    scenario.run_now()

    _, batch, ids = wait_until(lambda: batch_in_flight(scenario, [child]), timeout=30, what="mid-batch")
    kill(child)
    killed_at = time.time()

    assert_whole_or_nothing(batch, ids)
    assert batch.state == SyncBatch.State.PENDING, "the killed merge was rolled back"
    # No reconciler here: acks_late + reject_on_worker_lost put the message back by themselves.
    scenario.settle(timeout=60, reconcile_here=False)
    batch.refresh_from_db()
    assert batch.state == SyncBatch.State.DONE and batch.created == len(ids)
    others = {pid for pid, rows in load_marks(scenario.procs.marker_dir).items() if pid != child}
    redone = [
        r
        for pid in others
        for t, r in load_marks(scenario.procs.marker_dir)[pid]
        if t > killed_at and r in ids
    ]
    assert sorted(set(redone)) == sorted(ids), "a new pool child loaded the killed batch again"
    assert SyncRun.objects.get(client=client).status == SyncRun.Status.SUCCEEDED
    scenario.assert_consistent()


def test_a_worker_killed_with_batches_in_flight_loses_nothing(scenario: Scenario) -> None:
    scenario.serve(records=300, page_delay=0.5)
    client = scenario.make_client(slow_load=0.05, batch_size=25)
    doomed = scenario.worker(concurrency=2)
    children = wait_for_pool(doomed, 2)
    run = scenario.run_now()

    def in_flight() -> tuple[int, SyncBatch, list[int]] | None:
        return SyncRun.objects.get(pk=run.pk).pages >= 2 and batch_in_flight(scenario, children)

    _, batch, ids = wait_until(in_flight, timeout=30, what="pages staged and a batch loading")
    doomed.kill()  # power loss: the main process and its pool children, by process group

    assert_whole_or_nothing(batch, ids)
    checkpoint = assert_checkpoint_staged(client)
    scenario.api.configure(page_delay=0)
    scenario.worker(concurrency=2)
    # Messages the dead worker had taken are gone (filesystem) or parked until the visibility
    # timeout (Redis): the reconciler re-sends from the database.
    scenario.settle(timeout=90)

    pages = scenario.api.stats()["pages"]
    if checkpoint is not None:
        committed = range(1, checkpoint["next_page"])
        assert all(pages[str(p)] == 1 for p in committed), f"committed pages fetched again: {pages}"
    scenario.assert_consistent()


def test_a_warm_shutdown_during_a_run_finishes_what_it_started_and_loses_nothing(scenario: Scenario) -> None:
    scenario.serve(records=300, page_delay=0.3)
    client = scenario.make_client(slow_load=0.05, batch_size=25)
    old = scenario.worker(concurrency=2)
    children = wait_for_pool(old, 2)
    run = scenario.run_now()
    wait_until(
        lambda: (
            SyncRun.objects.get(pk=run.pk).pages >= 2 and busy_loader(scenario.procs.marker_dir, children)
        ),
        timeout=30,
        what="pages staged and a batch loading",
    )

    took = warm_stop(old, timeout=90)  # SIGTERM to the main pid, as a deploy does

    assert old.process.returncode == 0, old.log()[-2000:]
    assert not pool_children_alive(children), "pool children exited with the worker"
    batches = SyncBatch.objects.filter(client=client)
    assert SyncRun.objects.get(pk=run.pk).fetch_done, "the warm shutdown let the fetch finish"
    assert batches.filter(state=SyncBatch.State.DONE).exists()
    # The new release's worker; no reconciler: a clean stop hands every message back.
    scenario.worker(concurrency=2, with_celery_queue=False)
    scenario.settle(timeout=90, reconcile_here=False)

    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.SUCCEEDED
    assert set(scenario.api.stats()["pages"].values()) == {1}, "no page fetched twice"
    assert all(b.attempts == 1 for b in batches.all()), "nothing had to be re-sent"
    assert took < 60
    scenario.assert_consistent()


def pool_children_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive
