"""The source misbehaves while it is read (faults 11 and 12), with real workers loading.

Fault 11: the fake API inserts and deletes records between page fetches of an offset listing
(`FakeApi.insert` / `FakeApi.delete` with `after=N` apply each change between listing requests
N and N+1, so it lands at the same point of the run however fast it goes): deletions in front
of the position (fewer and more than the overlap), inserts in front of it, behind it and at
the end, deletions of records not read yet. With the REST source's offset overlap no record
present for the whole run is missed and re-read records merge once; with `offset_overlap: 0`
the same changes make the run skip records (the case that shows the protection matters).

Fault 12: poison records inside otherwise good pages (`FakeApi.replace`): a NUL character, an
id longer than the 255-character column, a record over `SYNC_MAX_RECORD_BYTES`, no id, not an
object. The rest of each batch loads, each poison record is kept in failed records with its
reason and payload, once however often it fails, and leaves the list once it loads: one fixed
at the source (the next run stores it), one that only the limit refused (the operator raises
it; the retry loads the kept payload)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from syncers.models import FailedRecord, SyncBatch, SyncClient, SyncedRecord, SyncRun
from syncers.selectors import run_wait_final
from syncers.services import failed_records_retry

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


# --- Fault 12: poison records inside good batches -------------------------------------------

LIMIT, RAISED = 20_000, 100_000  # SYNC_MAX_RECORD_BYTES for the workers and the oracle


def poison_the_listing(scenario: Scenario) -> dict[str, tuple[int, Any, str]]:
    """Put one poison record into each of five batches (pages of 50, batches of 25) and say,
    per kind, where it is, what the API serves and the reason expected for it."""
    api = scenario.api
    served = api.records()

    def edited(index: int, **fields: Any) -> dict[str, Any]:
        return {**served[index], **fields}

    poison = {
        "nul": (7, edited(7, name="Desk \u0000 Lamp"), "NUL character"),
        "long id": (30, edited(30, id="x" * 300), "id longer than 255 characters"),
        "too big": (60, edited(60, description="d" * 30_000), f"over SYNC_MAX_RECORD_BYTES ({LIMIT})"),
        "no id": (110, {k: v for k, v in served[110].items() if k != "id"}, "no usable id in field 'id'"),
        "not an object": (140, "SKU-0000141 withdrawn", "not a JSON object (string)"),
    }
    for index, record, _ in poison.values():
        api.replace(index, record)
    return poison


def test_poison_records_are_set_aside_and_the_rest_of_their_batches_loads(
    scenario: Scenario, settings
) -> None:
    settings.SYNC_MAX_RECORD_BYTES = LIMIT  # what the oracle holds records to, as the workers do
    scenario.serve(records=200)
    client = scenario.make_client(batch_size=25)
    worker = scenario.worker(concurrency=2, SYNC_MAX_RECORD_BYTES=str(LIMIT))
    poison = poison_the_listing(scenario)

    run = run_to_the_end(scenario, "poisoned listing")

    assert run.status == SyncRun.Status.PARTIAL, run.error  # loaded, with failed records
    assert run.counts() == {
        "pages": 5,  # four full pages and the empty one that ends a page-number listing
        "fetched": 200,
        "created": 195,
        "updated": 0,
        "unchanged": 0,
        "failed": 5,
    }
    assert SyncedRecord.objects.filter(client=client).count() == 195
    poisoned_ids = {index + 1 for index, _, _ in poison.values()}
    assert stored_ids(client) == set(range(1, 201)) - poisoned_ids
    failed = {f.batch_id: f for f in FailedRecord.objects.filter(client=client, run=run)}
    assert len(failed) == 5, "one poison record in each of five batches"
    for kind, (_, record, reason) in poison.items():
        row = next(f for f in failed.values() if json.loads(f.payload) == record)
        assert reason in row.reason, (kind, row.reason)
    # Every good record of those batches loaded next to its poison record.
    for batch in SyncBatch.objects.filter(pk__in=failed):
        assert (batch.size, batch.created, batch.failed) == (25, 24, 1), batch.pk
    scenario.assert_consistent()

    # Fixed at the source: the next run stores it, and its failed record leaves the list by
    # itself; the other four failed again and count a second attempt on their one row each.
    nul_index, nul_record, _ = poison["nul"]
    fixed = {**nul_record, "name": "Desk Lamp"}
    scenario.api.replace(nul_index, fixed)
    second = run_to_the_end(scenario, "after the source's fix")
    assert (second.status, second.created, second.failed) == (SyncRun.Status.PARTIAL, 1, 4)
    assert SyncedRecord.objects.get(client=client, external_id=str(nul_index + 1)).data == fixed
    assert not FailedRecord.objects.filter(client=client, external_id=str(nul_index + 1)).exists()
    assert sorted(FailedRecord.objects.filter(client=client).values_list("attempts", flat=True)) == [2] * 4

    # Refused only by the limit: the operator raises it, and the retry loads the kept payload.
    worker.stop()
    scenario.worker(concurrency=2, SYNC_MAX_RECORD_BYTES=str(RAISED))
    settings.SYNC_MAX_RECORD_BYTES = RAISED
    big_index, big_record, _ = poison["too big"]
    big_rows = list(FailedRecord.objects.filter(client=client, external_id=str(big_index + 1)))
    assert [f.attempts for f in big_rows] == [2], "one row, refused by both runs"
    outcome = failed_records_retry(client=client, who="operator", record_ids=[f.pk for f in big_rows])
    retry = run_wait_final(run_id=outcome.run.pk, timeout=60)
    scenario.settle(timeout=60, reconcile_here=False)
    assert (retry.status, retry.fetched, retry.created, retry.failed) == (SyncRun.Status.SUCCEEDED, 1, 1, 0)
    assert SyncedRecord.objects.get(client=client, external_id=str(big_index + 1)).data == big_record
    assert not FailedRecord.objects.filter(client=client, external_id=str(big_index + 1)).exists()
    assert FailedRecord.objects.filter(client=client).count() == 3, "the other three, one row each"
    scenario.assert_consistent()
