"""The broker misbehaves (faults 2 and 3), on a throw-away Redis every process of the test uses:
a batch outlives the visibility timeout and is delivered again (while it still runs, on
PostgreSQL); Redis vanishes half-way through dispatch and comes back empty 10 s later; Redis
(broker and leases) restarts while batches load. The data waits in the database, so nothing
is lost, and a batch is merged once however often it is delivered."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

from syncers.models import SyncBatch, SyncClient, SyncRun
from syncers.pipeline.lease import leases
from tests.processes import wait_until

from .conftest import Scenario
from .harness import KOMBU_CLOSE_CRASH, Supervised, busy_loader, load_marks, sending_through, wait_for_pool
from .throwaway import ThrowawayRedis

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VISIBILITY_TIMEOUT = 3


@pytest.fixture
def redis_broker(scenario: Scenario, tmp_path: Path) -> Iterator[ThrowawayRedis]:
    """A Redis of the test's own as broker for this process and every worker and beat."""
    server = ThrowawayRedis(tmp_path)
    scenario.procs.env["CELERY_BROKER_URL"] = server.url(0)
    try:
        with sending_through(server.url(0)):
            yield server
    finally:
        scenario.procs.close()
        server.close()


def received(log: str, task: str) -> list[str]:
    return re.findall(rf"Task {re.escape(task)}\[([0-9a-f-]+)\] received", log)


def finish_listing(scenario: Scenario, worker: Supervised, rounds: int = 3) -> int:
    """Settle; while the checkpoint says the listing is unfinished, ask for the next run (what
    the next schedule would do) and settle again. Returns how many extra runs it took."""
    extra = 0
    scenario.settle(timeout=120, reconcile_here=False, each_pass=worker.check)
    while SyncClient.objects.get(pk=scenario.client.pk).checkpoint is not None:
        assert extra < rounds, "the listing does not finish"
        scenario.run_now(who="next run")
        extra += 1
        scenario.settle(timeout=120, reconcile_here=False, each_pass=worker.check)
    return extra


def only_known_deaths(worker: Supervised) -> None:
    """A worker may only have died of the known kombu crash (then its supervisor restarted
    it, as systemd would); any other death fails the test. The known one is reported."""
    unknown = [d for d in worker.deaths if d != KOMBU_CLOSE_CRASH]
    assert not unknown, f"a worker died: {unknown[0]}"
    if worker.deaths:
        warnings.warn(
            f"{len(worker.deaths)} worker(s) died when Redis went away ({KOMBU_CLOSE_CRASH}); "
            "restarted as a process supervisor would",
            stacklevel=2,
        )


def test_a_batch_outliving_the_visibility_timeout_is_delivered_again_and_merged_once(
    scenario: Scenario, redis_broker: ThrowawayRedis
) -> None:
    scenario.serve(records=30)
    client = scenario.make_client(slow_load=0.5, batch_size=30)  # one batch, about 15 s
    # A visibility timeout below the task time limit is the fault itself: check syncers.E001
    # would stop these workers from starting, so it is silenced here.
    env = {"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT), "SILENCED_SYSTEM_CHECKS": "syncers.E001"}
    first = scenario.worker(concurrency=1, with_celery_queue=False, **env)
    (first_child,) = wait_for_pool(first, 1)
    scenario.run_now()
    wait_until(lambda: received(first.log(), "syncers.load_batch"), timeout=30, what="the batch")
    (task_id,) = received(first.log(), "syncers.load_batch")
    wait_until(lambda: busy_loader(scenario.procs.marker_dir, [first_child]), timeout=30)
    time.sleep(VISIBILITY_TIMEOUT + 1)

    # A second worker's consumer restores unacknowledged messages older than the visibility
    # timeout when it starts polling: the batch still running above is delivered again.
    second = scenario.worker(concurrency=1, with_celery_queue=False, **env)

    def deliveries() -> int:
        return sum(received(w.log(), "syncers.load_batch").count(task_id) for w in (first, second))

    wait_until(lambda: deliveries() >= 2, timeout=60, what="the batch delivered again")
    if connection.vendor == "postgresql":
        # (On SQLite the 15 s merge holds the one write lock: the second worker's start-up
        # writes wait for it, so the second delivery can only come after the first.)
        assert task_id in received(second.log(), "syncers.load_batch")
        assert f"load_batch[{task_id}] succeeded" not in first.log(), "delivered again while running"

    scenario.settle(timeout=60, reconcile_here=False)
    wait_until(
        lambda: sum(w.log().count(f"load_batch[{task_id}] succeeded") for w in (first, second)) == 2,
        timeout=30,
        what="both deliveries to finish",
    )
    loaders = {pid for pid, rows in load_marks(scenario.procs.marker_dir).items() if rows}
    assert loaders == {first_child}, "the second delivery merged nothing: it waited and found the batch done"
    batch = SyncBatch.objects.get(client=client)
    assert (batch.state, batch.created, batch.attempts) == ("done", 30, 1)
    scenario.assert_consistent()


def test_broker_gone_half_way_through_dispatch_and_back_empty_10s_later_loses_nothing(
    scenario: Scenario, redis_broker: ThrowawayRedis
) -> None:
    scenario.serve(records=1000, page_delay=0.15)
    client = scenario.make_client(batch_size=25)
    worker = Supervised(scenario.procs, f"{scenario.queue},celery")
    scenario.procs.beat()  # the reconciler, as in production
    run = scenario.run_now()
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).pages >= 6, timeout=30, what="six pages dispatched")

    redis_broker.kill()
    time.sleep(10)
    redis_broker.start()  # no persistence: every queued message is gone

    extra = finish_listing(scenario, worker)
    only_known_deaths(worker)
    assert extra <= 1
    first = SyncRun.objects.get(pk=run.pk)
    assert first.status in {"succeeded", "failed", "abandoned"}, first.status
    pages = scenario.api.stats()["pages"]
    assert pages["1"] == 1 and max(pages.values()) <= 2, pages
    client.refresh_from_db()
    scenario.assert_consistent()


def test_redis_restarted_while_batches_load_loses_nothing(
    scenario: Scenario, redis_broker: ThrowawayRedis
) -> None:
    """Broker and leases on the same Redis, as the example deployment (docs/guides/production.md)
    has them."""
    scenario.procs.env["REDIS_URL"] = redis_broker.url(1)
    with override_settings(REDIS_URL=redis_broker.url(1)):
        leases.cache_clear()
        try:
            scenario.serve(records=300)
            client = scenario.make_client(slow_load=0.05, batch_size=25)  # about 1.3 s per batch
            worker = Supervised(scenario.procs, f"{scenario.queue},celery")
            scenario.procs.beat()
            children = wait_for_pool(worker.current, 2)
            run = scenario.run_now()
            wait_until(
                lambda: (
                    SyncRun.objects.get(pk=run.pk).fetch_done
                    and SyncBatch.objects.filter(run=run, state="done").count() >= 2
                    and busy_loader(scenario.procs.marker_dir, children)
                ),
                timeout=30,
                what="every page staged and batches loading",
            )

            redis_broker.kill()
            time.sleep(3)
            redis_broker.start()

            scenario.settle(timeout=120, reconcile_here=False, each_pass=worker.check)
            only_known_deaths(worker)
            run.refresh_from_db()
            assert run.status == SyncRun.Status.SUCCEEDED, run.error
            assert scenario.api.stats()["pages"] == {str(p): 1 for p in range(1, 8)}
            client.refresh_from_db()
            scenario.assert_consistent()
        finally:
            leases.cache_clear()
