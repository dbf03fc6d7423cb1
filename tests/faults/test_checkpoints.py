"""The fetcher dies between pages (faults 9 and 10): the next run resumes at the committed
checkpoint, does not ask for committed pages again, adopts the dead run's unloaded batches and
skips nothing, also where records share one `updated_at` across a page boundary.

Fault 9 reads the whole listing by page number. Fault 10 uses the REST source's incremental
mode (an inclusive `updated_since` filter, the listing ordered by updated_at then id): a tie
group of records with one new `updated_at` straddles the page boundaries of the filtered
listing, and the run dies right after its first page."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from syncers.models import SyncClient, SyncRun
from syncers.selectors import run_wait_final
from tests.processes import TEST_LEASE_TTL, wait_until

from .conftest import Scenario
from .harness import kill, wait_for_pool
from .oracle import assert_checkpoint_staged

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def kill_after_page(scenario: Scenario, fetcher: int, page: int) -> dict:
    """SIGKILL the fetching process as soon as `page` is committed (checkpoint past it)."""
    client_id = scenario.client.pk

    def committed() -> bool:
        checkpoint = SyncClient.objects.values_list("checkpoint", flat=True).get(pk=client_id)
        return bool(checkpoint) and checkpoint.get("next_page", 0) > page

    wait_until(committed, timeout=60, interval=0.02, what=f"page {page} committed")
    kill(fetcher)
    return assert_checkpoint_staged(scenario.client)


@contextlib.contextmanager
def slow_staging(seconds: float) -> Iterator[None]:
    """PostgreSQL: every statement that stages batches first sleeps `seconds` (a trigger), so
    a checkpoint committed apart from its page would be visible that long without it: the
    kill below then lands in that gap, where a few milliseconds would let it slip through.
    SQLite has no sleep in SQL; there the scenario runs at its natural speed."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cur:
        cur.execute(
            "CREATE FUNCTION fault_slow_staging() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_sleep({float(seconds)}); RETURN NULL; END $$"
        )
        cur.execute(
            "CREATE TRIGGER fault_slow_staging BEFORE INSERT ON syncers_syncbatch "
            "FOR EACH STATEMENT EXECUTE FUNCTION fault_slow_staging()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("DROP TRIGGER IF EXISTS fault_slow_staging ON syncers_syncbatch")
            cur.execute("DROP FUNCTION IF EXISTS fault_slow_staging()")


def resume_after_lease_expiry(scenario: Scenario, dead: SyncRun) -> SyncRun:
    """What the next schedule or an operator does: ask for a run once the lease has run out.
    No reconciler in these tests: the new run itself supersedes the dead one."""
    time.sleep(TEST_LEASE_TTL + 0.5)
    scenario.api.configure(page_delay=0)
    again = run_wait_final(run_id=scenario.run_now(who="next run").pk, timeout=60)
    assert again.status == SyncRun.Status.SUCCEEDED, again.error
    scenario.settle(timeout=60, reconcile_here=False)
    dead.refresh_from_db()
    assert dead.status == SyncRun.Status.ABANDONED and f"superseded by run #{again.pk}" in dead.error
    return again


def test_a_run_killed_between_pages_resumes_at_the_checkpoint_without_refetching(scenario: Scenario) -> None:
    scenario.serve(records=1000, page_delay=0.3)
    scenario.make_client(batch_size=25)
    worker = scenario.worker(concurrency=1, with_celery_queue=False)  # loads wait behind the fetch
    (fetcher,) = wait_for_pool(worker, 1)
    with slow_staging(0.5):
        dead = scenario.run_now()
        checkpoint = kill_after_page(scenario, fetcher, page=4)
    resume_after_lease_expiry(scenario, dead)

    pages = scenario.api.stats()["pages"]
    committed = range(1, checkpoint["next_page"])
    assert all(pages[str(p)] == 1 for p in committed), f"committed pages asked for again: {pages}"
    # Only pages the dead run had read but not committed are asked twice: the one being staged,
    # two in the prefetch queue and one being read (fetch.prefetched, depth 2). Slow staging
    # makes the fetcher wait on the database, so the read-ahead is full at the kill.
    assert sum(pages.values()) <= 21 + 4, pages
    scenario.assert_consistent()


def test_records_sharing_an_updated_at_across_a_page_boundary_survive_a_crash_after_page_one(
    scenario: Scenario,
) -> None:
    scenario.serve(records=120)
    client = scenario.make_client(
        batch_size=20, incremental={"param": "updated_since", "field": "updated_at"}
    )
    worker = scenario.worker(concurrency=1, with_celery_queue=False)
    (fetcher,) = wait_for_pool(worker, 1)
    first = run_wait_final(run_id=scenario.run_now(who="full listing").pk, timeout=60)
    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    scenario.settle(timeout=60, reconcile_here=False)
    since = SyncClient.objects.get(pk=client.pk).checkpoint["updated_since"]

    # Upstream edits 75 records at one instant. The filtered listing (>= since) is the 45
    # untouched records, then the tie group: page 1 holds 5 of it, pages 2 and 3 the rest.
    tie = scenario.api.touch(list(range(1, 76)), {"stock": 0})
    scenario.api.configure(page_delay=1.0)
    dead = scenario.run_now(who="incremental")
    checkpoint = kill_after_page(scenario, fetcher, page=1)
    assert checkpoint == {"next_page": 2, "updated_since": since, "max_seen": tie}, checkpoint
    resume_after_lease_expiry(scenario, dead)

    client.refresh_from_db()
    assert client.checkpoint == {"updated_since": tie}, "the next cursor is the tie, inclusive"
    filters = {c["query"].get("updated_since") for c in scenario.api.calls() if "products" in c["path"]}
    assert filters == {None, since}, f"the resumed run kept the run's own filter: {filters}"
    assert scenario.api.stats()["pages"]["1"] == 2, "page 1 once per run, not again on resume"
    scenario.assert_consistent()
