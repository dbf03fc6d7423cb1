"""Offset pagination over a listing that changes between page fetches, run inline (no worker):
the overlap and its anchor in each edge case, and what the same changes do without it.

The fake API applies each insert or delete between two listing requests (`after=N`), so the
changes land at the same point of the run however fast it goes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fakeapi.control import FakeApi
from syncers.models import SyncClient, SyncedRecord, SyncRun
from syncers.services import sync_run_now_here

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = 50


def offset_client(make_client, **config: Any) -> SyncClient:
    return make_client(
        name="offset-overlap",
        handler="rest",
        config={"pagination": "offset", "path": "/products/offset", "page_size": PAGE, **config},
    )


def run_inline(client: SyncClient) -> SyncRun:
    run = sync_run_now_here(client=client, who="tester")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def stored_ids(client: SyncClient) -> set[int]:
    return {int(e) for e in SyncedRecord.objects.filter(client=client).values_list("external_id", flat=True)}


def offsets(api: FakeApi) -> list[int]:
    return [int(c["query"]["offset"]) for c in api.calls("/products/offset")]


def test_a_deleted_anchor_record_is_found_by_the_anchors_before_it(api: FakeApi, make_client) -> None:
    api.reset(records=120)
    api.delete([50], after=1)  # the last record of page 1: the anchor's newest id
    client = offset_client(make_client)

    run = run_inline(client)

    assert offsets(api) == [0, 45, 90], "no extra request: ids 46-49 of the anchor are still there"
    assert stored_ids(client) == set(range(1, 121)), "50 was served before it went"
    assert (run.fetched, run.created, run.unchanged) == (120, 120, 0), "nothing read twice"


@pytest.mark.parametrize(("overlap", "missed"), [(None, set()), (0, {51, 52, 53, 54, 55, 56, 57, 58})])
def test_more_deletions_than_the_overlap_step_back_instead_of_skipping(
    api: FakeApi, make_client, overlap: int | None, missed: set[int]
) -> None:
    api.reset(records=200)
    gone = api.delete(list(range(10, 18)), after=1)  # 8 records in front of offset 50, overlap 5
    client = offset_client(make_client, **({} if overlap is None else {"offset_overlap": overlap}))

    run_inline(client)

    # Without the overlap, offset 50 now starts at what was position 58: 51-58 are skipped.
    assert set(range(1, 201)) - set(gone) - stored_ids(client) == missed
    if overlap is None:
        assert offsets(api)[:4] == [0, 45, 40, 85], "no anchor at 45: one step back, to 40"


@pytest.mark.parametrize(("overlap", "twice"), [(None, 0), (0, 3)])
def test_inserts_at_the_front_are_not_read_twice_and_the_next_run_reads_them(
    api: FakeApi, make_client, overlap: int | None, twice: int
) -> None:
    api.reset(records=120)
    new = api.insert(0, 3, after=1)
    client = offset_client(make_client, **({} if overlap is None else {"offset_overlap": overlap}))

    first = run_inline(client)

    # Like a keyset cursor, a run does not see records inserted in front of its position; the
    # overlap keeps the three records pushed back over the position from being read again.
    assert stored_ids(client) == set(range(1, 121))
    assert (first.created, first.unchanged) == (120, twice)
    second = run_inline(client)
    assert stored_ids(client) == set(range(1, 121)) | set(new)
    assert (second.created, second.unchanged) == (3, 120)


def test_inserts_behind_the_position_are_read_in_the_same_run(api: FakeApi, make_client) -> None:
    api.reset(records=120)
    new = api.insert(100, 4, after=1)

    run = run_inline(offset_client(make_client))

    assert stored_ids(SyncClient.objects.get(name="offset-overlap")) == set(range(1, 121)) | set(new)
    assert (run.fetched, run.created) == (124, 124)


def test_the_end_of_the_listing_moving_in_front_of_the_next_request(api: FakeApi, make_client) -> None:
    # Pages read 1-50 and 46-95; then the tail 96-120 is deleted, so the next request (offset
    # 90) gets only the anchor's own records back: a short page with nothing new, the end.
    api.reset(records=120)
    api.delete(list(range(96, 121)), after=2)
    client = offset_client(make_client)

    run = run_inline(client)

    assert offsets(api) == [0, 45, 90]
    assert stored_ids(client) == set(range(1, 96))
    assert run.pages == 3 and run.fetched == 95


def test_every_anchor_record_deleted_reads_again_from_the_start_rather_than_guess(
    api: FakeApi, make_client
) -> None:
    api.reset(records=120)
    api.delete(list(range(44, 51)), after=1)  # the whole anchor (46-50) and two records before it
    client = offset_client(make_client)

    run = run_inline(client)

    assert offsets(api)[:6] == [0, 45, 40, 30, 10, 0], "stepping back until offset 0"
    assert stored_ids(client) == set(range(1, 121))
    assert run.created == 120 and run.unchanged == 43, "1-43 read twice, merged once"


@pytest.mark.parametrize("incremental", [False, True], ids=["plain", "incremental"])
def test_a_resumed_run_keeps_its_anchor_in_the_checkpoint(
    api: FakeApi, make_client, incremental: bool
) -> None:
    api.reset(records=120)
    client = offset_client(make_client, **({"incremental": {}} if incremental else {}))
    sync_run_now_here(client=client, who="tester", max_pages=1)
    client.refresh_from_db()
    checkpoint = client.checkpoint
    assert {k: checkpoint[k] for k in ("next_offset", "page")} == {"next_offset": 50, "page": 2}
    ids = ["46", "47", "48", "49", "50"]
    if incremental:  # each id with the version read: the field the filtered listing is ordered by
        served = {str(r["id"]): json.dumps(r["updated_at"]) for r in api.records()}
        assert checkpoint["anchor"] == [[i, served[i]] for i in ids]
    else:
        assert checkpoint["anchor"] == ids
    api.delete([47, 48, 49, 50, 30, 31])  # between the runs: in front of the position, anchor too

    run_inline(client)

    assert stored_ids(client) == set(range(1, 121))
    assert offsets(api)[1:3] == [45, 40], "resumed 5 records early, then one step back"


def test_an_anchor_record_edited_to_the_end_of_the_listing_is_not_taken_for_the_anchor(
    api: FakeApi, make_client
) -> None:
    # Incremental runs read a listing ordered by updated_at, where an edit moves a record to the
    # end. Records 1-60 changed since the cursor; between pages 1 and 2 record 50, the newest of
    # page 1's anchor, is edited and lands at the end of page 2's answer. Matched by id alone,
    # 51-60 before it would look read, and with the cursor then past their timestamps no later
    # run would ask for them again.
    api.reset(records=120)
    client = offset_client(make_client, incremental={})
    since = api.touch(list(range(1, 61)))
    SyncClient.objects.filter(pk=client.pk).update(checkpoint={"updated_since": since})
    api.touch([50], at="2031-01-01T00:00:00Z", after=api.stats()["requests"] + 1)

    run = run_inline(client)

    assert offsets(api)[-2:] == [0, 45]
    served = {str(r["id"]): r for r in api.records() if r["updated_at"] >= since}
    assert len(served) == 60
    stored = dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "data"))
    assert {k for k, v in served.items() if stored.get(k) != v} == set(), (
        "every changed record at its newest version"
    )
    assert (run.fetched, run.created) == (61, 60), "50 twice: before and after its edit"
