"""The lease holder stops or dies (faults 7 and 8). A holder SIGSTOPped past its TTL wakes up
after another run finished and is fenced off: none of its writes land. A holder SIGKILLed is
replaced within the lease TTL plus one reconciler interval, and its run is marked abandoned."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.db import connection
from django.utils import timezone

from syncers.models import SyncBatch, SyncClient, SyncRun
from syncers.pipeline.lease import client_lease_name, leases
from syncers.selectors import run_wait_final
from tests.processes import TEST_IDLE_TRANSACTION_TIMEOUT, TEST_LEASE_TTL, wait_until

from .conftest import Scenario
from .harness import busy_loader, kill, wait_for_pool

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RECONCILE_EVERY = 2.0  # SYNC_RECONCILE_EVERY of the child processes (tests.processes.child_env)


@pytest.mark.parametrize("lease_store", ["honest", "forgets_the_takeover"])
def test_a_paused_lease_holder_is_fenced_off_after_another_run_takes_over(
    scenario: Scenario, lease_store: str
) -> None:
    """With an honest lease store the woken run stops at its heartbeat or at the fence,
    whichever looks first. When the store wrongly hands the lease back to the old holder (a
    failover to a stale replica, a restored snapshot), only the fence stands in its way."""
    scenario.serve(records=500, page_delay=0.2)
    client = scenario.make_client(batch_size=25)
    frozen = scenario.worker(concurrency=1, with_celery_queue=False)
    first = scenario.run_now(who="first")
    wait_until(lambda: SyncRun.objects.get(pk=first.pk).pages >= 2, timeout=30, what="two pages staged")

    os.killpg(frozen.pid, signal.SIGSTOP)  # the holder stops renewing; its TTL runs out
    time.sleep(TEST_LEASE_TTL + 1)
    scenario.api.configure(page_delay=0)
    scenario.worker(concurrency=2)  # its start-up reconcile abandons the frozen run
    # Our run and the reconciler's recovery run race for the expired lease: one wins, the
    # other is skipped on the lease, or runs after it (both are whole, idempotent listings).
    second = scenario.run_now(who="second")
    run_wait_final(run_id=second.pk, timeout=60)
    others = SyncRun.objects.filter(client=client).exclude(pk=first.pk)
    wait_until(lambda: all(r.is_final for r in others.all()), timeout=60, what="the takeover to finish")
    outcomes = sorted(others.values_list("status", flat=True))
    assert "succeeded" in outcomes and set(outcomes) <= {"succeeded", "skipped_locked"}, outcomes
    stale = SyncRun.objects.get(pk=first.pk)
    assert stale.status == SyncRun.Status.ABANDONED

    if lease_store == "forgets_the_takeover":
        name = client_lease_name(client.pk)
        wait_until(lambda: leases().holder(name) is None, timeout=30, what="the takeover to release")
        assert leases().acquire(name, stale.lease_token, TEST_LEASE_TTL)

    woke_at = timezone.now()
    os.killpg(frozen.pid, signal.SIGCONT)  # the old holder wakes up believing it still runs
    wait_until(lambda: f"run {first.pk} stopped" in frozen.log(), timeout=30, what="the old run to give up")
    if lease_store == "forgets_the_takeover":
        assert f"fence {stale.fence} is stale" in frozen.log(), "the fence refused the write"
    scenario.settle(timeout=60)

    client.refresh_from_db()
    assert client.checkpoint is None, "the woken run could not write its stale checkpoint"
    late = SyncBatch.objects.filter(client=client, fence=stale.fence, dispatched_at__gt=woke_at)
    assert not late.exists(), "the woken run staged nothing"
    assert SyncRun.objects.get(pk=first.pk).pages == stale.pages
    scenario.assert_consistent()


def test_a_killed_lease_holder_is_replaced_within_ttl_plus_one_interval(scenario: Scenario) -> None:
    # 20 pages at 0.5 s: the holder must still be fetching when it dies (once fetched, the
    # loaders keep the lease alive and no takeover is needed), even on a busy machine.
    scenario.serve(records=1000, page_delay=0.5)
    client = scenario.make_client(batch_size=25)
    holder = scenario.worker(concurrency=1, with_celery_queue=False)
    (fetcher,) = wait_for_pool(holder, 1)
    dead = scenario.run_now()
    wait_until(lambda: SyncRun.objects.get(pk=dead.pk).pages >= 3, timeout=30, what="three pages staged")
    scenario.worker(concurrency=2)  # loads batches and runs the reconciler
    scenario.procs.beat()

    assert not SyncRun.objects.get(pk=dead.pk).fetch_done, "the holder finished fetching too soon"
    kill(fetcher)  # the process holding the lease, by pid
    killed_at = timezone.now()
    checkpoint = SyncClient.objects.get(pk=client.pk).checkpoint
    scenario.api.configure(page_delay=0)

    takeover = wait_until(
        lambda: SyncRun.objects.filter(client=client, pk__gt=dead.pk, started_at__isnull=False).first(),
        timeout=TEST_LEASE_TTL + RECONCILE_EVERY + 20,
        what="a run to take over",
    )
    delay = (takeover.started_at - killed_at).total_seconds()
    assert delay <= TEST_LEASE_TTL + RECONCILE_EVERY + 2, f"took over after {delay:.1f}s"
    scenario.settle(timeout=90, reconcile_here=False)

    dead.refresh_from_db()
    assert dead.status == SyncRun.Status.ABANDONED and "lease" in dead.error, dead.error
    takeover.refresh_from_db()
    assert (takeover.trigger, takeover.status) == (SyncRun.Trigger.RECOVERY, SyncRun.Status.SUCCEEDED)
    pages = scenario.api.stats()["pages"]
    assert all(pages[str(p)] == 1 for p in range(1, checkpoint["next_page"])), pages
    scenario.assert_consistent()


def test_a_batch_loader_frozen_mid_merge_does_not_block_the_next_run(scenario: Scenario) -> None:
    """The loading phase of fault 7: after fetching, the loaders keep the lease alive. One of
    them is SIGSTOPped inside its batch's transaction, past the lease TTL; the next run must
    still be able to take over and finish while it is stopped. Protection: pipeline
    transactions set idle_in_transaction_session_timeout (fence.relax_commit),
    and the reconciler skips batch rows locked by a loader instead of waiting for them."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "SQLite allows one writer at a time: a writer frozen inside its transaction holds the "
            "database lock and stalls every writer of the embedded setup by design"
        )
    scenario.serve(records=100)
    scenario.make_client(slow_load=0.2, batch_size=25)  # 5 s per batch
    frozen = scenario.worker(concurrency=1, with_celery_queue=False)
    (loader,) = wait_for_pool(frozen, 1)
    first = scenario.run_now(who="first")
    wait_until(
        lambda: (
            SyncRun.objects.get(pk=first.pk).fetch_done and busy_loader(scenario.procs.marker_dir, [loader])
        ),
        timeout=30,
        what="a batch being merged",
    )
    os.killpg(frozen.pid, signal.SIGSTOP)  # inside the merge transaction, fence row share-locked
    time.sleep(TEST_LEASE_TTL + 1)

    scenario.worker(concurrency=2, FAULT_MARKER_DIR="")  # loads at full speed
    try:
        second = scenario.run_now(who="second")
        # It waits for the frozen transaction until PostgreSQL ends it (idle timeout), then runs.
        second = run_wait_final(run_id=second.pk, timeout=TEST_IDLE_TRANSACTION_TIMEOUT + 40)
        assert second.status == SyncRun.Status.SUCCEEDED, second.error
    finally:
        os.killpg(frozen.pid, signal.SIGCONT)
    scenario.settle(timeout=90)
    # PostgreSQL ended the frozen session once idle in its transaction for its timeout (rolled
    # back whole). The first run is then either abandoned by the reconciler, or finished by
    # the new loaders, which keep its lease alive while they load its remaining batches.
    first.refresh_from_db()
    assert first.status in (SyncRun.Status.ABANDONED, SyncRun.Status.SUCCEEDED), first.status
    scenario.assert_consistent()
