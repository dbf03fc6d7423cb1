"""The lease holder stops or dies (faults 7 and 8). A holder SIGSTOPped past its TTL wakes up
after another run finished and is fenced off: none of its writes land. A holder SIGKILLed is
replaced within the lease TTL plus one reconciler interval, and its run is marked abandoned."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.utils import timezone

from syncers.models import SyncBatch, SyncClient, SyncRun
from syncers.selectors import run_wait_final
from tests.processes import TEST_LEASE_TTL, wait_until

from .conftest import Scenario
from .harness import kill, wait_for_pool

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RECONCILE_EVERY = 2.0  # SYNC_RECONCILE_EVERY of the child processes (tests.processes.child_env)


def test_a_paused_lease_holder_is_fenced_off_after_another_run_takes_over(scenario: Scenario) -> None:
    scenario.serve(records=500, page_delay=0.2)
    client = scenario.make_client(batch_size=25)
    frozen = scenario.worker(concurrency=1, with_celery_queue=False)
    first = scenario.run_now(who="first")
    wait_until(lambda: SyncRun.objects.get(pk=first.pk).pages >= 2, timeout=30, what="two pages staged")

    os.killpg(frozen.pid, signal.SIGSTOP)  # the holder stops renewing; its TTL runs out
    time.sleep(TEST_LEASE_TTL + 1)
    scenario.api.configure(page_delay=0)
    scenario.worker(concurrency=2)  # its start-up reconcile abandons the frozen run
    # Our run and the reconciler's recovery run race for the expired lease: one wins.
    second = scenario.run_now(who="second")
    run_wait_final(run_id=second.pk, timeout=60)
    others = SyncRun.objects.filter(client=client).exclude(pk=first.pk)
    wait_until(lambda: all(r.is_final for r in others.all()), timeout=60, what="the takeover to finish")
    outcomes = sorted(others.values_list("status", flat=True))
    assert outcomes.count("succeeded") == 1 and set(outcomes) <= {"succeeded", "skipped_locked"}, outcomes
    stale = SyncRun.objects.get(pk=first.pk)
    assert stale.status == SyncRun.Status.ABANDONED

    woke_at = timezone.now()
    os.killpg(frozen.pid, signal.SIGCONT)  # the old holder wakes up believing it still runs
    wait_until(lambda: f"run {first.pk} stopped" in frozen.log(), timeout=30, what="the old run to give up")
    scenario.settle(timeout=60)

    client.refresh_from_db()
    assert client.checkpoint is None, "the woken run could not write its stale checkpoint"
    late = SyncBatch.objects.filter(client=client, fence=stale.fence, dispatched_at__gt=woke_at)
    assert not late.exists(), "the woken run staged nothing"
    assert SyncRun.objects.get(pk=first.pk).pages == stale.pages
    scenario.assert_consistent()


def test_a_killed_lease_holder_is_replaced_within_ttl_plus_one_interval(scenario: Scenario) -> None:
    scenario.serve(records=1000, page_delay=0.2)
    client = scenario.make_client(batch_size=25)
    holder = scenario.worker(concurrency=1, with_celery_queue=False)
    (fetcher,) = wait_for_pool(holder, 1)
    dead = scenario.run_now()
    wait_until(lambda: SyncRun.objects.get(pk=dead.pk).pages >= 3, timeout=30, what="three pages staged")
    scenario.worker(concurrency=2)  # loads batches and runs the reconciler
    scenario.procs.beat()

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
