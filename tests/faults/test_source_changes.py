"""The source misbehaves while it is read (fault 11), with real workers loading.

Fault 11: the fake API inserts and deletes records between page fetches of an offset listing
(`FakeApi.insert` / `FakeApi.delete` with `after=N` apply each change between listing requests
N and N+1, so it lands at the same point of the run however fast it goes): deletions in front
of the position (fewer and more than the overlap), inserts in front of it, behind it and at
the end, deletions of records not read yet. With the REST source's offset overlap no record
present for the whole run is missed and re-read records merge once; with `offset_overlap: 0`
the same changes make the run skip records (the case that shows the protection matters)."""

from __future__ import annotations

import pytest

from syncers.models import SyncClient, SyncedRecord, SyncRun
from syncers.selectors import run_wait_final

from .conftest import Scenario

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RECORDS = 300


def stored_ids(client: SyncClient) -> set[int]:
    return {int(e) for e in SyncedRecord.objects.filter(client=client).values_list("external_id", flat=True)}


def run_to_the_end(scenario: Scenario, who: str) -> SyncRun:
    run = run_wait_final(run_id=scenario.run_now(who=who).pk, timeout=90)
    scenario.settle(timeout=60, reconcile_here=False)
    run.refresh_from_db()
    return run


# --- Fault 11: records inserted and deleted between page fetches ---------------------------


def change_the_listing_between_pages(scenario: Scenario) -> dict[str, set[int]]:
    """Schedule the changes (pages of 50, overlap 5); the ids they touch, by what they test."""
    api = scenario.api
    roles = {
        # After page 1 (ids 1-50): 3 deletions in front of offset 50 move 51-53 in front of it.
        "deleted_read": set(api.delete([10, 20, 30], after=1)),
        "inserted_behind": set(api.insert(200, 2, after=1)),
        # After page 2: inserted in front (read twice without the overlap, by the next run
        # with it), and a record deleted before any page reached it.
        "inserted_in_front": set(api.insert(5, 4, after=2)),
        "deleted_unread": set(api.delete([290], after=2)),
    }
    # After page 3: 8 deletions in front, more than the overlap: no anchor id in the answer.
    roles["deleted_read"] |= set(api.delete(list(range(60, 68)), after=3))
    # After page 5: the listing's end changes: its last records go, one is added after them.
    roles["deleted_unread"] |= set(api.delete([298, 299, 300], after=5))
    roles["inserted_behind"] |= set(api.insert(RECORDS, 1, after=5))  # past the end at apply time
    return roles


@pytest.mark.parametrize(
    ("overlap", "missed", "twice"),
    [
        (None, set(), 0),
        # Without the overlap: 51-53 slip in front of offset 50 after the 3 deletions, 150-157
        # in front of offset 150 after the 8; the 4 inserts in front make 100-103 come twice.
        (0, {51, 52, 53, *range(150, 158)}, 4),
    ],
    ids=["with-overlap", "overlap-off"],
)
def test_records_inserted_and_deleted_between_page_fetches_are_not_missed_or_doubled(
    scenario: Scenario, overlap: int | None, missed: set[int], twice: int
) -> None:
    scenario.serve(records=RECORDS)
    options = {} if overlap is None else {"offset_overlap": overlap}
    client = scenario.make_client(batch_size=25, pagination="offset", path="/products/offset", **options)
    scenario.worker(concurrency=2)
    roles = change_the_listing_between_pages(scenario)

    first = run_to_the_end(scenario, "changing listing")

    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    assert scenario.api.stats()["pending_changes"] == 0, "every change happened during the run"
    asked = [int(c["query"]["offset"]) for c in scenario.api.calls("/auth/bearer/products/offset")]
    if overlap is None:
        # 5 records early each time; at 135 no anchor id is left after the 8 deletions in
        # front of it, so the run asks again 10 early instead of taking 135 at its word.
        assert asked == [0, 45, 90, 135, 130, 175, 220, 265], asked
    stored = stored_ids(client)
    present_throughout = set(range(1, RECORDS + 1)) - roles["deleted_read"] - roles["deleted_unread"]
    # The protection: nothing that was listed all along is skipped. Without it, each deletion
    # in front of the position skips as many records.
    assert present_throughout - stored == missed
    assert roles["deleted_read"] <= stored, "served before it was deleted: stored"
    assert not roles["deleted_unread"] & stored, "deleted before any page reached it"
    assert roles["inserted_behind"] <= stored, "inserted behind the position: read by the run"
    assert not roles["inserted_in_front"] & stored, "in front of the position: like a cursor, not seen"
    assert first.created == len(stored) == SyncedRecord.objects.filter(client=client).count()
    assert (first.fetched, first.unchanged) == (first.created + twice, twice), "read twice, merged once"

    second = run_to_the_end(scenario, "next run")

    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert roles["inserted_in_front"] | missed <= stored_ids(client), "the next run reads them"
    assert second.created == len(roles["inserted_in_front"] | missed)
    scenario.assert_consistent()
