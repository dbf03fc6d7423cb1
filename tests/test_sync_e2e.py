"""End to end: fake API (real HTTP server) → real Celery worker → database."""

from __future__ import annotations

import pytest

from fakeapi.control import FakeApi
from syncers.models import FailedRecord, SyncBatch, SyncedRecord, SyncRun
from syncers.selectors import run_wait_final
from syncers.services import sync_run_request

from .processes import Service

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("worker"),
]


def run_now(client, timeout: float = 60) -> SyncRun:
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester")
    return run_wait_final(run_id=run.pk, timeout=timeout)


def stored(client) -> dict[str, dict]:
    return {r.external_id: r.data for r in SyncedRecord.objects.filter(client=client)}


def served(api: FakeApi) -> dict[str, dict]:
    return {str(r["id"]): r for r in api.records() if isinstance(r, dict) and "id" in r}


def test_first_sync_stores_every_record_with_exact_counts(api: FakeApi, make_client, worker: Service) -> None:
    client = make_client()

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    # 250 records in pages of 50: five full pages, then an empty one that ends the listing.
    assert run.counts() == {
        "pages": 6,
        "fetched": 250,
        "created": 250,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
    }
    assert stored(client) == served(api)
    assert run.triggered_by == "tester" and run.trigger == "admin"
    assert run.started_at and run.finished_at and run.finished_at >= run.started_at
    assert not SyncBatch.objects.filter(state=SyncBatch.State.PENDING).exists()
    client.refresh_from_db()
    assert client.checkpoint is None, "a run that read to the end leaves no checkpoint"


def test_second_sync_of_unchanged_data_writes_nothing(api: FakeApi, make_client) -> None:
    client = make_client()
    run_now(client)
    before = dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "updated_at"))

    second = run_now(client)

    assert second.status == SyncRun.Status.SUCCEEDED
    assert (second.created, second.updated, second.unchanged, second.failed) == (
        0,
        0,
        250,
        0,
    )
    after = dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "updated_at"))
    assert after == before, "unchanged rows must not be rewritten"


def test_changed_record_is_updated_and_only_it(api: FakeApi, make_client) -> None:
    client = make_client()
    run_now(client)
    api.update([7, 120], fields={"name": "Renamed product"})

    run = run_now(client)

    assert (run.created, run.updated, run.unchanged) == (0, 2, 248)
    record = SyncedRecord.objects.get(client=client, external_id="7")
    assert record.data["name"] == "Renamed product" and record.data["version"] == 2
    assert stored(client) == served(api)


def test_bad_records_are_kept_aside_and_the_rest_loads(api: FakeApi, make_client) -> None:
    api.replace(10, {"sku": "NO-ID", "name": "record without an id"})
    api.replace(60, {"id": 61, "name": "nul \u0000 inside"})
    client = make_client()

    run = run_now(client)

    assert run.status == SyncRun.Status.PARTIAL
    assert (run.fetched, run.created, run.failed) == (250, 248, 2)
    reasons = dict(FailedRecord.objects.filter(client=client).values_list("external_id", "reason"))
    assert "no usable id" in reasons[""]
    assert "NUL" in reasons["61"]
    assert SyncedRecord.objects.filter(client=client).count() == 248
    failed = FailedRecord.objects.get(client=client, external_id="61")
    assert "\\u0000" in failed.payload and failed.run_id == run.pk


def test_two_concurrent_runs_one_syncs_one_is_skipped_locked(api: FakeApi, make_client) -> None:
    api.configure(page_delay=0.3)
    client = make_client()

    first = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="a")
    second = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="b")
    finals = sorted(run_wait_final(run_id=r.pk, timeout=60).status for r in (first, second))

    assert finals == [SyncRun.Status.SKIPPED_LOCKED, SyncRun.Status.SUCCEEDED]
    assert api.stats()["requests"] == 6, "the skipped run made no request"
    skipped = SyncRun.objects.get(pk__in=[first.pk, second.pk], status=SyncRun.Status.SKIPPED_LOCKED)
    assert skipped.fetched == 0 and "lease" in skipped.error
