"""A re-sync stages only the records the ledger does not hold as they are (pipeline.unchanged):
unchanged ones are counted and their keys kept as seen, without a staged payload or a load;
anything that could make the load decide otherwise stages the record as before."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection
from django.db.models import Sum

from catalog.models import Category, Product
from fakeapi.control import FakeApi
from fakeapi.listings import CATALOG_PRODUCT_FIELDS, CATEGORIES
from syncers.models import FailedRecord, SyncBatch, SyncClient, SyncedRecord, SyncRun
from syncers.pipeline.chunk import SEND_TO_WORKERS
from syncers.pipeline.fence import take_fence
from syncers.pipeline.stage import OpenBatch, stage_page
from syncers.pipeline.unchanged import UnchangedFilter
from syncers.registry import Page
from syncers.selectors import run_wait_final
from syncers.services import sync_run_request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]

# The filter looks the ledger up with PostgreSQL's SQL (json_array_elements_text, LATERAL); on
# any other database it stays off and every record is staged as before (pipeline.unchanged).
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the unchanged filter is PostgreSQL only"
)


def run_now(client: SyncClient, timeout: float = 60) -> SyncRun:
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester")
    return run_wait_final(run_id=run.pk, timeout=timeout)


def staged(run: SyncRun) -> int:
    """Records of `run` that went through a staged payload and a worker's load."""
    return run.batches.filter(attempts__gt=0).aggregate(n=Sum("size"))["n"] or 0


def stored(client: SyncClient) -> dict[str, dict]:
    return {r.external_id: r.data for r in SyncedRecord.objects.filter(client=client)}


def served(api: FakeApi) -> dict[str, dict]:
    return {str(r["id"]): r for r in api.records()}


@postgresql_only
def test_an_unchanged_resync_stages_nothing_and_counts_every_record_unchanged(
    api: FakeApi, make_client
) -> None:
    client = make_client()
    first = run_now(client)
    before = dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "updated_at"))

    second = run_now(client)

    assert staged(first) == 250
    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert (second.fetched, second.created, second.updated, second.unchanged) == (250, 0, 0, 250)
    assert staged(second) == 0
    assert not second.batches.exclude(payload="").exists()
    assert dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "updated_at")) == before


@postgresql_only
def test_a_resync_stages_exactly_the_changed_records(api: FakeApi, make_client) -> None:
    client = make_client()
    run_now(client)
    api.update([7, 120], fields={"name": "Renamed product"})

    run = run_now(client)

    assert (run.created, run.updated, run.unchanged) == (0, 2, 248)
    assert staged(run) == 2
    # Pages 1 and 3 (of 50 records) each had one: they travel as one batch, one load task.
    assert run.batches.filter(attempts__gt=0).count() == 1
    assert stored(client) == served(api)


@pytest.mark.skipif(connection.vendor == "postgresql", reason="what a database without the filter does")
def test_elsewhere_a_resync_stages_every_record_as_before_and_the_load_still_counts_unchanged(
    api: FakeApi, make_client
) -> None:
    client = make_client()
    run_now(client)
    api.update([7, 120], fields={"name": "Renamed product"})
    before = dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "updated_at"))

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.fetched, run.created, run.updated, run.unchanged) == (250, 0, 2, 248)
    assert staged(run) == 250
    assert stored(client) == served(api)
    after = dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "updated_at"))
    rewritten = {key for key in before if after[key] != before[key]}
    assert rewritten == {"7", "120"}, "the load leaves an unchanged row as it was"


@postgresql_only
def test_a_record_with_a_failed_copy_waiting_is_loaded_again_and_leaves_the_failed_records(
    api: FakeApi, make_client
) -> None:
    client = make_client()
    run_now(client)
    FailedRecord.objects.create(
        client=client, external_id="9", record_key="9", payload="{}", reason="an earlier copy failed"
    )

    run = run_now(client)

    assert (run.updated, run.unchanged) == (0, 250)
    assert staged(run) == 1
    assert not FailedRecord.objects.filter(client=client).exists()


def test_a_batch_of_another_run_still_pending_makes_the_resync_stage_every_record(
    api: FakeApi, make_client
) -> None:
    client = make_client()
    run_now(client)
    # Pushed before this run fetched, not loaded yet (e.g. its message is waiting).
    pushed_run = SyncRun.objects.create(client=client, trigger="webhook", status="running", fetch_done=True)
    pushed = SyncBatch.objects.create(
        client=client, run=pushed_run, fence=SyncBatch.UNFENCED, page=1, size=1,
        payload=json.dumps([{"id": 7, "name": "pushed earlier"}]),
    )  # fmt: skip

    run = run_now(client)

    # Which copy wins is then the load's decision, as before this filter existed.
    assert (staged(run), run.unchanged) == (250, 250)
    assert SyncBatch.objects.get(pk=pushed.pk).state == SyncBatch.State.PENDING


@postgresql_only
def test_a_key_staged_earlier_in_the_run_is_not_skipped_on_a_later_page(make_client) -> None:
    client = make_client()
    run = SyncRun.objects.create(client=client, trigger="command", status="running")
    stored_text = '{"id":1,"v":"stored"}'
    SyncedRecord.objects.create(
        client=client, external_id="1", data=json.loads(stored_text), source_seq=1, created_batch=1,
        content_hash=hashlib.md5(stored_text.encode()).hexdigest(),
    )  # fmt: skip
    gate = UnchangedFilter(client=client, run_id=run.pk)

    assert gate.split([json.loads(stored_text)]).unchanged == 1  # as stored: skipped
    page1 = gate.split([{"id": 1, "v": "changed"}])
    page2 = gate.split([json.loads(stored_text)])

    # Page 1's copy may still be waiting to load: page 2's copy must follow it, not be skipped.
    assert (len(page1.stage), page1.unchanged) == (1, 0)
    assert (len(page2.stage), page2.unchanged) == (1, 0)


@postgresql_only
def test_a_look_up_made_ahead_does_not_skip_a_key_a_page_before_it_staged(make_client) -> None:
    """Pages are looked up in a thread ahead of staging (UnchangedFilter.ahead): page 2's
    look-up may predate page 1's staging of the same key, and must not skip it then."""
    client = make_client()
    _run, gate = _ledger_run(client)
    page2_ahead = gate.look_up([{"id": 1, "v": "stored"}])
    assert page2_ahead is not None and page2_ahead.skip == {"1"}, "as stored when looked up"

    page1 = gate.split([{"id": 1, "v": "changed"}])
    page2 = gate.split([{"id": 1, "v": "stored"}], page2_ahead)

    assert (len(page1.stage), page1.unchanged) == (1, 0)
    assert (len(page2.stage), page2.unchanged) == (1, 0)


def test_a_handlers_keys_for_a_page_are_its_external_id_of_each_record() -> None:
    """external_ids runs the default rule inline (speed); it must key exactly as external_id."""
    from syncers.registry import get_handler

    class Text(str):
        pass

    records = [
        {"id": 1}, {"id": 0}, {"id": -7}, {"id": "a"}, {"id": ""}, {"id": None}, {}, {"id": True}, {"id": [1]}, {"id": {"a": 1}},
        {"id": 1.5}, {"id": 2**70}, {"id": Text("")}, {"id": Text("t")}, "not a dict", None, {"sku": "x"},
    ]  # fmt: skip
    handler = get_handler("rest")
    for config in ({}, {"id_field": "sku"}):
        assert handler.external_ids(records, config) == [handler.external_id(r, config) for r in records]


@postgresql_only
def test_a_destination_resync_skips_unchanged_records_and_deletions_still_know_every_key_seen(
    api: FakeApi, make_client
) -> None:
    Category.objects.bulk_create(Category(**c) for c in CATEGORIES)
    client = make_client(
        handler="rest",
        config={"path": "/catalog/products", "page_size": 100},
        batch_size=100,
        destination={
            "model": "catalog.Product",
            "key": ["sku"],
            "fields": CATALOG_PRODUCT_FIELDS,
            "on_missing": "delete",
        },
    )
    run_now(client)
    api.update([7], fields={"name": "Renamed lamp"})
    api.delete([5])

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.fetched, run.updated, run.unchanged, run.deleted) == (249, 1, 248, 1)
    assert staged(run) == 1
    assert Product.objects.get(sku="SKU-0000007").name == "Renamed lamp"
    assert Product.objects.count() == 249
    assert sum(len(k) for k in run.batches.exclude(seen_keys=None).values_list("seen_keys", flat=True)) == 248


def _ledger_run(client: SyncClient) -> tuple[SyncRun, UnchangedFilter]:
    """A running run with a fence, the ledger holding record 1 as {"id":1,"v":"stored"}."""
    text = '{"id":1,"v":"stored"}'
    SyncedRecord.objects.create(
        client=client, external_id="1", data=json.loads(text), source_seq=1, created_batch=1,
        content_hash=hashlib.md5(text.encode()).hexdigest(),
    )  # fmt: skip
    run = SyncRun.objects.create(
        client=client, trigger="command", status="running", fence=take_fence(client.pk)
    )
    return run, UnchangedFilter(client=client, run_id=run.pk)


def _page(number: int, records: list) -> Page:
    return Page(number, records, {"next_page": number + 1}, False)


@postgresql_only
def test_changed_records_of_later_pages_join_the_open_batch_until_it_is_full(make_client) -> None:
    client = make_client()
    run, gate = _ledger_run(client)
    open_batch = OpenBatch(queue="sync")
    token = SEND_TO_WORKERS.set(False)
    try:
        first = stage_page(run=run, page=_page(1, [{"id": 1, "v": "stored"}, {"id": 2}]), batch_size=3,
                           queue="sync", unchanged=gate, open_batch=open_batch)  # fmt: skip
        joined = stage_page(run=run, page=_page(2, [{"id": 3}, {"id": 4}, {"id": 1, "v": "stored"}]), batch_size=3, queue="sync",
                            unchanged=gate, open_batch=open_batch)  # fmt: skip
    finally:
        SEND_TO_WORKERS.reset(token)

    batch = SyncBatch.objects.get(pk=first[0])
    assert joined == [] and open_batch.id is None, "full: closed and sent"
    assert (batch.size, json.loads(batch.payload)) == (3, [{"id": 2}, {"id": 3}, {"id": 4}])
    assert SyncBatch.objects.filter(run=run, state=SyncBatch.State.PENDING).count() == 1


@postgresql_only
def test_records_do_not_join_a_batch_older_than_another_runs_batch(make_client) -> None:
    client = make_client()
    run, gate = _ledger_run(client)
    open_batch = OpenBatch(queue="sync")
    token = SEND_TO_WORKERS.set(False)
    try:
        first = stage_page(run=run, page=_page(1, [{"id": 1, "v": "stored"}, {"id": 2}]), batch_size=10,
                           queue="sync", unchanged=gate, open_batch=open_batch)  # fmt: skip
        pushed_run = SyncRun.objects.create(client=client, trigger="webhook", status="succeeded")
        SyncBatch.objects.create(client=client, run=pushed_run, fence=SyncBatch.UNFENCED, page=1, size=0,
                                 state=SyncBatch.State.DONE)  # fmt: skip
        second = stage_page(run=run, page=_page(2, [{"id": 3}]), batch_size=10, queue="sync",
                            unchanged=gate, open_batch=open_batch)  # fmt: skip
    finally:
        SEND_TO_WORKERS.reset(token)

    # Record 3 was fetched after the pushed batch was staged: it must rank after it.
    assert SyncBatch.objects.get(pk=first[0]).size == 1
    assert len(second) == 1 and second[0] > first[0]


def test_a_records_digest_is_the_md5_of_its_staged_text() -> None:
    """The skip compares the ledger's hash, which the merge takes of the staged text (compact)."""
    import hashlib

    from syncers.pipeline.chunk import compact
    from syncers.pipeline.unchanged import record_digest

    for record in ({"id": 1, "name": "plain"}, {"id": 2, "name": "été"}, {"id": 3, "n": 2**70}, [1e16, None]):
        assert record_digest(record) == hashlib.md5(compact(record).encode()).hexdigest()
