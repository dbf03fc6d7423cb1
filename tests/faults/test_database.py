"""PostgreSQL crashes and restarts in the middle of a run (fault 4), on a throw-away cluster.

Pipeline transactions commit without waiting for the WAL flush (fence.relax_commit), so the
crash may also take back the newest commits whole: a staged page with its checkpoint, a merge
with its done flag. Whatever the crash took back, the next run or the reconciler redoes it."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from syncers.models import SyncClient, SyncRun
from tests.processes import wait_until

from .conftest import Scenario
from .harness import db_tolerant
from .throwaway import ThrowawayPostgres, database

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgres() -> ThrowawayPostgres:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL-specific: the embedded configuration has no database server to restart")
    pg = ThrowawayPostgres()
    yield pg
    pg.close()


def finish_listing(scenario: Scenario, rounds: int = 3) -> int:
    """Settle; while the checkpoint says the listing is unfinished, ask for the next run (what
    the next schedule would do) and settle again. Returns how many extra runs it took."""
    extra = 0
    scenario.settle(timeout=120)
    while SyncClient.objects.get(pk=scenario.client.pk).checkpoint is not None:
        assert extra < rounds, "the listing does not finish"
        scenario.run_now(who="next run")
        extra += 1
        scenario.settle(timeout=120)
    return extra


def test_postgres_crash_and_restart_mid_run_loses_and_doubles_nothing(
    scenario: Scenario, postgres: ThrowawayPostgres
) -> None:
    with database(postgres):
        try:
            scenario.serve(records=1000, page_delay=0.15)
            scenario.make_client(batch_size=25)
            scenario.worker(concurrency=2)
            run = scenario.run_now()
            wait_until(lambda: SyncRun.objects.get(pk=run.pk).pages >= 6, timeout=30, what="six pages")

            postgres.crash()  # every connection dies; unflushed commits are gone
            time.sleep(2)
            postgres.start()
            wait_until(db_tolerant(lambda: SyncRun.objects.exists()), timeout=30, what="the database back")

            extra = finish_listing(scenario)
            runs = dict(SyncRun.objects.values_list("pk", "status"))
            assert extra <= 1, runs
            assert runs[run.pk] in {"failed", "abandoned", "succeeded"}, runs
            scenario.assert_consistent()
        finally:
            scenario.procs.close()
