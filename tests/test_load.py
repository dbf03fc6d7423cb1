"""The load step's contract, exercised on staged batches in the real database."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection, connections, transaction

from syncers.models import FailedRecord, SyncBatch, SyncedRecord, SyncRun
from syncers.pipeline.fence import FenceLost, fenced, take_fence
from syncers.pipeline.load import load_batch
from syncers.pipeline.stage import save_checkpoint, stage_page
from syncers.registry import Page

pytestmark = pytest.mark.django_db


def stage(client, records: list, fence: int | None = None) -> SyncBatch:
    run = SyncRun.objects.create(client=client, trigger="command", status="running")
    return SyncBatch.objects.create(
        client=client,
        run=run,
        fence=client.fence if fence is None else fence,
        page=1,
        size=len(records),
        payload=json.dumps(records),
    )


def stored(client) -> dict[str, dict]:
    return dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "data"))


def test_duplicates_inside_a_batch_collapse_to_the_last_version(make_client) -> None:
    client = make_client()
    batch = load_batch(stage(client, [{"id": 1, "v": "old"}, {"id": 2}, {"id": 1, "v": "new"}]).pk)

    assert (batch.created, batch.updated, batch.unchanged, batch.failed) == (2, 0, 0, 0)
    assert stored(client)["1"] == {"id": 1, "v": "new"}


def test_unchanged_records_are_counted_and_not_rewritten(make_client) -> None:
    client = make_client()
    load_batch(stage(client, [{"id": 1, "a": 1}, {"id": 2, "a": 2}]).pk)
    written = SyncedRecord.objects.get(client=client, external_id="1").updated_at

    # Same content with keys in another order is the same record.
    again = load_batch(stage(client, [{"a": 1, "id": 1}, {"id": 2, "a": 3}]).pk)

    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    assert SyncedRecord.objects.get(client=client, external_id="1").updated_at == written
    assert stored(client)["2"] == {"id": 2, "a": 3}


def test_an_older_batch_never_overwrites_a_newer_one(make_client) -> None:
    client = make_client()
    older = stage(client, [{"id": 1, "v": "served first"}])
    newer = stage(client, [{"id": 1, "v": "served later"}])

    load_batch(newer.pk)
    late = load_batch(older.pk)  # e.g. re-delivered after the newer batch loaded

    assert stored(client)["1"]["v"] == "served later"
    assert (late.created, late.updated, late.unchanged) == (0, 0, 1)


def test_bad_records_fail_alone_and_the_rest_of_the_batch_commits(make_client) -> None:
    client = make_client()
    records = [
        {"id": 1},
        {"name": "no id"},
        {"id": None},
        {"id": 4, "text": "nul\u0000"},
        {"id": "x" * 300},
        "not an object",
        {"id": 7},
    ]
    batch = load_batch(stage(client, records).pk)

    assert (batch.created, batch.failed) == (2, 5)
    assert set(stored(client)) == {"1", "7"}
    reasons = list(FailedRecord.objects.filter(batch=batch).values_list("reason", flat=True))
    assert len(reasons) == 5 and all(reasons)
    assert FailedRecord.objects.get(external_id="4").payload == json.dumps(
        records[3], sort_keys=True, separators=(",", ":")
    )


def test_a_record_the_database_rejects_is_isolated_by_splitting_the_batch(make_client) -> None:
    # A lone surrogate passes our own checks but PostgreSQL's jsonb refuses it; SQLite stores it.
    client = make_client()
    records = [{"id": i} for i in range(1, 9)] + [{"id": 9, "s": "\ud800"}]
    batch = load_batch(stage(client, records).pk)

    expected = (8, 1) if connection.vendor == "postgresql" else (9, 0)
    assert (batch.created, batch.failed) == expected
    assert SyncedRecord.objects.filter(client=client).count() == batch.created
    if batch.failed:
        assert "rejected by the database" in FailedRecord.objects.get(external_id="9").reason


def test_a_batch_delivered_twice_loads_once(make_client) -> None:
    client = make_client()
    batch = stage(client, [{"id": 1}, {"id": 2}])

    first = load_batch(batch.pk)
    second = load_batch(batch.pk)

    assert first.created == 2 and second is None
    batch.refresh_from_db()
    assert batch.state == "done" and batch.payload == ""


def test_a_stale_fence_cannot_load_or_stage(make_client) -> None:
    client = make_client()
    run = SyncRun.objects.create(
        client=client, trigger="command", status="running", fence=take_fence(client.pk)
    )
    batch = stage(client, [{"id": 1}], fence=run.fence)
    take_fence(client.pk)  # a newer run started

    with pytest.raises(FenceLost):
        load_batch(batch.pk)
    with pytest.raises(FenceLost):
        stage_page(run=run, page=Page(2, [{"id": 2}], {"next_page": 3}, False), batch_size=10, queue="sync")

    assert not SyncedRecord.objects.exists()
    assert SyncBatch.objects.count() == 1
    client.refresh_from_db()
    assert client.checkpoint is None, "the refused write did not move the checkpoint"


def test_a_page_of_a_run_asked_to_cancel_is_not_staged_and_the_checkpoint_stays(make_client) -> None:
    """The fetcher reads the cancel request with the fence, as the page's transaction starts."""
    from syncers.pipeline.stage import Cancelled

    client = make_client()
    run = SyncRun.objects.create(
        client=client, trigger="command", status="running", fence=take_fence(client.pk)
    )
    first = Page(1, [{"id": 1}], {"next_page": 2}, False)
    stage_page(run=run, page=first, batch_size=10, queue="sync", stop_if_cancelled=True)
    SyncRun.objects.filter(pk=run.pk).update(cancel_requested=True)

    with pytest.raises(Cancelled):
        second = Page(2, [{"id": 2}], {"next_page": 3}, False)
        stage_page(run=run, page=second, batch_size=10, queue="sync", stop_if_cancelled=True)

    assert list(SyncBatch.objects.values_list("page", flat=True)) == [1]
    client.refresh_from_db()
    assert client.checkpoint == {"next_page": 2}
    assert SyncRun.objects.get(pk=run.pk).pages == 1


def test_records_without_a_usable_id_are_kept_with_their_reason(make_client) -> None:
    client = make_client()
    batch = load_batch(
        stage(client, [{"id": 1}, {"name": "x"}, {"id": "y" * 300}, {"id": True}, {"id": 1}]).pk
    )

    assert (batch.created, batch.unchanged, batch.failed) == (1, 0, 3)
    reasons = sorted(FailedRecord.objects.filter(batch=batch).values_list("reason", flat=True))
    assert reasons == [
        "id longer than 255 characters",
        "no usable id in field 'id'",
        "no usable id in field 'id'",
    ]


@pytest.mark.parametrize("row_by_row", [False, True], ids=["merged-in-database", "row-by-row"])
def test_a_record_over_the_size_limit_or_not_an_object_is_kept_with_a_reason_naming_it(
    make_client, settings, row_by_row: bool
) -> None:
    settings.SYNC_MAX_RECORD_BYTES = 2000
    client = make_client()
    records = [{"id": i, "text": "x" * 900} for i in range(1, 4)]  # the batch is over the limit
    records += [{"id": 4, "text": "y" * 3000}, ["a", "list"], 7]
    if row_by_row:  # a NUL makes PostgreSQL refuse the payload as a whole (SQLite: always)
        records.append({"id": 5, "text": "nul\u0000"})
    batch = load_batch(stage(client, records).pk)

    assert set(stored(client)) == {"1", "2", "3"}, "records under the limit load, though the batch is over"
    reasons = dict(FailedRecord.objects.filter(batch=batch).values_list("payload", "reason"))
    too_big = next(r for p, r in reasons.items() if '"id":4' in p.replace(" ", ""))
    assert too_big.startswith("record of 30") and too_big.endswith("over SYNC_MAX_RECORD_BYTES (2000)")
    assert sorted(r for r in reasons.values() if r.startswith("not a JSON object")) == [
        "not a JSON object (array)",
        "not a JSON object (number)",
    ]
    assert batch.failed == len(reasons) == (4 if row_by_row else 3)


def _in_other_session(step, client_id: int) -> str:
    """Run `step(client_id)` in a transaction of another database session that waits at most
    0.5 s for a lock; "done" or "waited" (the lock wait ran out)."""

    def work() -> str:
        try:
            with transaction.atomic():
                with connection.cursor() as cur:
                    cur.execute("SET LOCAL lock_timeout = '500ms'")
                step(client_id)
            return "done"
        except OperationalError:
            return "waited"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises all writers anyway")
def test_a_write_holding_the_fence_stops_a_new_fence_but_not_a_checkpoint_save(make_client) -> None:
    """The fetcher saves each page's checkpoint on the client row while batches load under
    the fence: the fence lock must not make it wait, yet a new run's take_fence must wait
    until every write checked against the old fence has committed."""
    client = make_client()
    fence = take_fence(client.pk)

    with fenced(client.pk, fence):  # a loading batch, mid-transaction
        saved = _in_other_session(lambda pk: save_checkpoint(pk, {"next_page": 7}), client.pk)
        new_fence = _in_other_session(take_fence, client.pk)

    assert (saved, new_fence) == ("done", "waited")
    assert _in_other_session(take_fence, client.pk) == "done"  # once that write committed


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's session settings")
def test_a_fenced_write_commits_without_waiting_for_the_wal_and_times_out_when_idle(
    make_client, settings
) -> None:
    """fenced() checks the fence and relaxes the commit in one round trip: both must hold
    inside its transaction, and neither outside it (SET LOCAL)."""
    settings.SYNC_IDLE_TRANSACTION_TIMEOUT = 42.0
    client = make_client()
    fence = take_fence(client.pk)

    def shown() -> tuple[str, str]:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT current_setting('synchronous_commit'), current_setting('idle_in_transaction_session_timeout')"
            )
            return cur.fetchone()

    with fenced(client.pk, fence):
        assert shown() == ("off", "42s")
    assert shown() != ("off", "42s")
    with pytest.raises(FenceLost), fenced(client.pk, fence - 1):
        pass


def _wait_for_a_session_waiting_on_a_lock() -> None:
    """Inside a transaction: return once another session of this database waits for a lock."""
    import time

    deadline = time.monotonic() + 30
    with connection.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute("SELECT pg_stat_clear_snapshot()")  # activity is cached per transaction
            cur.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
            if cur.fetchone():
                return
            time.sleep(0.05)
    raise AssertionError("the other session never waited for a lock")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises all writers anyway")
def test_deleting_a_client_mid_load_waits_for_the_load_and_leaves_none_of_its_records(make_client) -> None:
    """The records table has no foreign key to the client (PostgreSQL checked one per row
    written): deleting a client locks its row first, so it waits for a load holding the fence
    to commit and then deletes that load's records too, instead of leaving them behind."""
    client = make_client()
    fence = take_fence(client.pk)
    batch = stage(client, [{"id": 1}, {"id": 2}], fence=fence)

    def delete_client() -> str:
        try:
            type(client).objects.get(pk=client.pk).delete()
            return "deleted"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        with fenced(client.pk, fence):  # the load's transaction, as load_batch runs it
            assert load_batch(batch.pk).created == 2
            deleting = pool.submit(delete_client)
            _wait_for_a_session_waiting_on_a_lock()
        assert deleting.result(timeout=60) == "deleted"

    assert not SyncedRecord.objects.filter(client_id=client.pk).exists()
