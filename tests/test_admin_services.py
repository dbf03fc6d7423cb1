"""The operator verbs the console adds, through the services the admin calls, with a real
worker where records load: cancel a queued or running run, retry failed records (selected or
all) as a new run, and a test fetch that shows the first page mapped and stores nothing."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission

from fakeapi.control import FakeApi
from syncers.models import FailedRecord, SyncBatch, SyncClient, SyncedRecord, SyncRun
from syncers.pipeline import run_sync
from syncers.pipeline.chunk import compact
from syncers.pipeline.load import NUL_REASON, prepare_rows
from syncers.registry import get_handler
from syncers.services import client_test_fetch, failed_records_retry, run_cancel_request
from syncers.store.failed import keep_failures

from .processes import wait_until


def wait_final(run: SyncRun) -> SyncRun:
    return wait_until(
        lambda: SyncRun.objects.filter(pk=run.pk, status__in=SyncRun.FINAL).first(),
        timeout=45,
        what=f"run #{run.pk} to finish",
    )


def failed(
    client: SyncClient, external_id: str, record: object, reason: str = "rejected earlier"
) -> FailedRecord:
    """A failed record as a load keeps it: its staged text, keyed as that database's load keys it
    (a keyless record's digest is of the text PostgreSQL prints, elsewhere of the staged text)."""
    keep_failures(
        client.pk, None, None, [FailedRecord(external_id=external_id, payload=compact(record), reason=reason)]
    )
    return FailedRecord.objects.filter(client=client).latest("pk")


@pytest.mark.django_db
def test_cancelling_a_queued_run_ends_it_at_once_and_the_pipeline_then_leaves_it_alone(make_client) -> None:
    client = make_client()
    run = SyncRun.objects.create(client=client, trigger="admin")

    run = run_cancel_request(run=run, who="alice")
    assert (run.status, run.cancel_requested, run.cancel_requested_by) == ("cancelled", True, "alice")
    assert run.finished_at is not None and run.error == "cancelled by alice"

    assert run_sync(run.pk).status == "cancelled", "a late message finds nothing to do"
    assert not SyncBatch.objects.exists()


@pytest.mark.django_db
def test_cancelling_a_running_run_records_the_request_for_the_pipeline(make_client) -> None:
    client = make_client()
    run = SyncRun.objects.create(client=client, trigger="admin", status="running")

    run = run_cancel_request(run=run, who="alice")
    assert (run.status, run.cancel_requested, run.cancel_requested_by) == ("running", True, "alice")
    first_at = run.cancel_requested_at
    assert run_cancel_request(run=run, who="bob").cancel_requested_at == first_at, "asking twice is once"

    SyncRun.objects.filter(pk=run.pk).update(status="succeeded")
    with pytest.raises(ValueError, match="already ended"):
        run_cancel_request(run=SyncRun.objects.get(pk=run.pk), who="alice")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_retrying_all_failed_records_loads_them_in_a_new_run_and_keeps_the_ones_failing_again(
    make_client,
) -> None:
    client = make_client()
    good = [failed(client, str(i), {"id": i, "name": f"item {i}"}) for i in (1, 2, 3)]
    failed(client, "", {"name": "still no id"}, reason="no usable id in field 'id'")

    outcome = failed_records_retry(client=client, who="alice")

    assert (outcome.staged, outcome.superseded) == (4, 0)
    run = wait_final(outcome.run)
    assert (run.status, run.trigger, run.triggered_by) == ("partial", "admin", "alice")
    assert (run.fetched, run.created, run.failed) == (4, 3, 1)
    stored = SyncedRecord.objects.filter(client=client)
    assert sorted(stored.values_list("external_id", flat=True)) == ["1", "2", "3"]
    assert json.loads(json.dumps(stored.get(external_id="2").data)) == {"id": 2, "name": "item 2"}
    left = FailedRecord.objects.get(client=client)
    assert (left.run_id, left.reason) == (run.pk, "no usable id in field 'id'")
    assert not FailedRecord.objects.filter(pk__in=[f.pk for f in good]).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_retrying_selected_records_leaves_the_others_and_drops_those_stored_newer_since(make_client) -> None:
    client = make_client()
    old, chosen, untouched = (failed(client, str(i), {"id": i, "v": "old"}) for i in (1, 2, 3))
    # Record 1 has since been stored by a later batch: its newer version must win.
    SyncedRecord.objects.create(
        client=client,
        external_id="1",
        data={"id": 1, "v": "new"},
        content_hash="x",
        source_seq=10**9,
        created_batch=1,
    )

    outcome = failed_records_retry(client=client, who="alice", record_ids=[old.pk, chosen.pk])

    assert (outcome.staged, outcome.superseded) == (1, 1)
    assert wait_final(outcome.run).created == 1
    assert SyncedRecord.objects.get(client=client, external_id="1").data == {"id": 1, "v": "new"}
    assert SyncedRecord.objects.get(client=client, external_id="2").data == {"id": 2, "v": "old"}
    assert list(FailedRecord.objects.filter(client=client)) == [untouched]


@pytest.mark.django_db
def test_retry_is_refused_while_a_run_is_in_progress_or_the_client_is_failing(make_client) -> None:
    client = make_client()
    record = failed(client, "1", {"id": 1})
    busy = SyncRun.objects.create(client=client, trigger="schedule", status="running")
    with pytest.raises(ValueError, match=f"run #{busy.pk} is running"):
        failed_records_retry(client=client, who="alice")
    busy.delete()
    SyncClient.objects.filter(pk=client.pk).update(state="backoff", error_level=1, consecutive_failures=1)
    with pytest.raises(ValueError, match="is failing"):
        failed_records_retry(client=client, who="alice")
    assert FailedRecord.objects.filter(pk=record.pk).exists(), "a refused retry changes nothing"
    assert not SyncRun.objects.exists()


@pytest.mark.django_db
def test_test_fetch_shows_the_first_page_mapped_and_stores_nothing(make_client, api: FakeApi) -> None:
    client = make_client(config={"page_size": 50})
    api.replace(3, {"name": "no id here"})
    before = client.checkpoint

    result = client_test_fetch(client=client, limit=10)

    assert (result.error, result.page, result.page_records, result.is_last) == ("", 1, 50, False)
    assert len(result.records) == 10
    assert [r.external_id for r in result.records[:5]] == ["1", "2", "3", None, "5"]
    assert result.records[0].record["id"] == 1
    assert api.stats()["pages"] == {"1": 1}, "one request, for the first page only"
    for model in (SyncRun, SyncBatch, SyncedRecord, FailedRecord):
        assert not model.objects.exists(), model.__name__
    client.refresh_from_db()
    assert client.checkpoint == before


@pytest.mark.django_db
def test_test_fetch_reports_a_source_error_instead_of_raising(make_client, api: FakeApi) -> None:
    client = make_client(config={"page_size": 50, "path": "/nowhere"})
    result = client_test_fetch(client=client)
    assert result.records == [] and result.error.startswith("PermanentError")


@pytest.mark.django_db
def test_the_new_permissions_exist_for_the_admin_to_assign() -> None:
    codenames = set(
        Permission.objects.filter(content_type__app_label="syncers").values_list("codename", flat=True)
    )
    assert {"run_syncclient", "pause_syncclient", "cancel_syncclient", "retry_syncclient"} <= codenames


@pytest.mark.django_db
def test_test_fetch_flags_each_record_the_load_would_set_aside_with_the_loads_own_reason(
    make_client, api: FakeApi, settings
) -> None:
    client = make_client(config={"page_size": 10})
    api.replace(1, {"name": "no id here"})
    api.replace(2, {"id": "x" * 300})
    api.replace(3, {"id": 4, "name": "nul \u0000 inside"})
    api.replace(4, {"id": 5, "name": "y" * 600})
    settings.SYNC_MAX_RECORD_BYTES = 500

    result = client_test_fetch(client=client)

    reasons = [r.set_aside for r in result.records[:6]]
    assert reasons[0] == "" and reasons[5] == ""
    assert reasons[1] == "no usable id in field 'id'"
    assert reasons[2] == "id longer than 255 characters"
    assert reasons[3] == NUL_REASON
    assert reasons[4].startswith("record of ") and "over SYNC_MAX_RECORD_BYTES (500)" in reasons[4]
    assert result.set_aside == 4
    handler = get_handler(client.handler)
    config = handler.clean_config(client.config)
    load = prepare_rows([r.record for r in result.records], handler, config)
    assert [f.reason for f in load.failures] == [r for r in reasons if r], "the load says the same"
    assert '"name": "no id here"' in result.records[1].pretty, "pretty JSON, not a Python repr"
