"""Destinations end to end: fake API (real HTTP server) -> real Celery worker -> the demo
app's catalog.Product model, typed and validated, with deletions after complete listings,
the mass-deletion guard and its approval."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command

from catalog.models import Category, Product
from catalog.sync import COUNTS_KEY, FAIL_KEY, category_counts
from fakeapi.control import FakeApi
from fakeapi.listings import CATALOG_PRODUCT_FIELDS, CATEGORIES
from syncers.destinations.deletions import (
    deletions_waiting,
    pending_deletion_approve,
    pending_deletion_reject,
)
from syncers.models import FailedRecord, Notification, PendingDeletion, SyncedRecord, SyncRun
from syncers.ops.status import needs_operator
from syncers.pipeline.reconcile import reconcile
from syncers.selectors import run_wait_final
from syncers.services import failed_records_retry, sync_fetch_here, sync_run_request

from .processes import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]

DESTINATION = {
    "model": "catalog.Product",
    "key": ["sku"],
    "fields": CATALOG_PRODUCT_FIELDS,
}


@pytest.fixture
def categories() -> None:
    Category.objects.bulk_create(Category(**c) for c in CATEGORIES)


@pytest.fixture
def catalog_client(make_client, categories):
    def make(**destination: object):
        return make_client(
            handler="rest",
            config={"path": "/catalog/products", "page_size": 100},
            batch_size=100,
            destination={**DESTINATION, **destination},
        )

    return make


def run_now(client, timeout: float = 90) -> SyncRun:
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester")
    return run_wait_final(run_id=run.pk, timeout=timeout)


def products() -> dict[str, tuple]:
    return {
        p.sku: (p.name, p.price, p.category.code if p.category else None, p.is_active)
        for p in Product.objects.select_related("category")
    }


def served(api: FakeApi) -> dict[str, tuple]:
    return {
        r["sku"]: (r["name"], Decimal(r["price"]), f"c{r['id'] % 8}", True)
        for r in api.records()
        if isinstance(r, dict)
    }


def test_a_sync_into_a_model_with_a_foreign_key_lands_typed_rows_with_exact_counts(
    api: FakeApi, catalog_client
) -> None:
    client = catalog_client()

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.fetched, run.created, run.updated, run.unchanged, run.failed, run.deleted) == (
        250, 250, 0, 0, 0, 0,
    )  # fmt: skip
    assert products() == served(api)
    first = Product.objects.get(sku="SKU-0000001")
    assert first.updated_at.isoformat() == "2026-01-01T00:01:00+00:00"
    # The ledger keeps hash, run and target pk, not a copy of every record.
    ledger = SyncedRecord.objects.get(client=client, external_id="SKU-0000001")
    assert ledger.data == {} and ledger.target_pk == str(first.pk) and ledger.last_seen_run == run.pk


def test_a_second_sync_writes_no_model_row_and_a_change_updates_exactly_its_row(
    api: FakeApi, catalog_client
) -> None:
    client = catalog_client()
    run_now(client)
    Product.objects.update(name="touched locally")  # a rewrite would undo this
    ledger = SyncedRecord.objects.filter(client=client).order_by("pk")
    ledger_before = list(ledger.values_list("external_id", "last_seen_run", "updated_at"))

    second = run_now(client)

    assert (second.created, second.updated, second.unchanged, second.failed) == (0, 0, 250, 0)
    assert set(Product.objects.values_list("name", flat=True)) == {"touched locally"}
    # Nor a ledger row: the batches keep which keys the run saw (SyncBatch.seen_keys).
    assert list(ledger.values_list("external_id", "last_seen_run", "updated_at")) == ledger_before

    api.update([7], fields={"name": "Renamed lamp"})
    third = run_now(client)

    assert (third.created, third.updated, third.unchanged) == (0, 1, 249)
    assert Product.objects.get(sku="SKU-0000007").name == "Renamed lamp"
    assert Product.objects.exclude(name="touched locally").count() == 1


def test_bad_values_become_failed_records_naming_the_field_and_retry_loads_them(
    api: FakeApi, catalog_client
) -> None:
    records = {r["id"]: r for r in api.records()}
    api.replace(3, {**records[4], "price": "NaN"})
    api.replace(4, {**records[5], "name": "x" * 250})
    api.replace(5, {**records[6], "category": {"code": "x9"}})
    client = catalog_client()

    run = run_now(client)

    assert run.status == SyncRun.Status.PARTIAL
    assert (run.created, run.failed) == (247, 3)
    reasons = dict(FailedRecord.objects.filter(client=client).values_list("external_id", "reason"))
    assert reasons == {
        "SKU-0000004": 'price: "NaN" is not a valid decimal',
        "SKU-0000005": "name: 250 characters, over max_length 200",
        "SKU-0000006": "category: category 'x9' not found",
    }
    assert FailedRecord.objects.get(external_id="SKU-0000004").payload.count('"NaN"') == 1

    Category.objects.create(code="x9", name="Arrived late")
    retry = failed_records_retry(client=client, who="tester")
    rerun = run_wait_final(run_id=retry.run.pk, timeout=60)

    assert (rerun.created, rerun.failed) == (1, 2)
    assert Product.objects.get(sku="SKU-0000006").category.code == "x9"
    assert Product.objects.count() == 248


# --- Deletions after a complete listing -------------------------------------------------


def live_skus() -> set[str]:
    return set(Product.objects.filter(is_active=True).values_list("sku", flat=True))


def test_a_complete_run_soft_deletes_exactly_the_records_gone_and_a_comeback_undeletes(
    api: FakeApi, catalog_client
) -> None:
    api.reset(records=2500)
    client = catalog_client(on_missing="soft", soft_delete_field="is_active")
    run_now(client)
    api.delete([10, 1200, 2500])

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.fetched, run.unchanged, run.deleted) == (2497, 2497, 3)
    gone = {"SKU-0000010", "SKU-0001200", "SKU-0002500"}
    assert set(Product.objects.filter(is_active=False).values_list("sku", flat=True)) == gone
    assert Product.objects.count() == 2500

    api.restore([1200])
    back = run_now(client)

    assert (back.updated, back.unchanged, back.deleted) == (1, 2497, 0)
    assert Product.objects.get(sku="SKU-0001200").is_active
    assert Product.objects.filter(is_active=False).count() == 2


def test_delete_mode_removes_the_rows_and_a_comeback_creates_its_row_again(
    api: FakeApi, catalog_client
) -> None:
    client = catalog_client(on_missing="delete")
    run_now(client)
    api.delete([5, 6])

    run = run_now(client)

    assert run.deleted == 2
    assert Product.objects.count() == 248
    assert not Product.objects.filter(sku__in=["SKU-0000005", "SKU-0000006"]).exists()

    api.restore([6])
    back = run_now(client)

    assert (back.created, back.updated, back.unchanged, back.deleted) == (1, 0, 248, 0)
    assert Product.objects.filter(sku="SKU-0000006").exists() and Product.objects.count() == 249


def test_an_incremental_run_deletes_nothing_and_a_full_listing_of_it_does(
    api: FakeApi, make_client, categories
) -> None:
    client = make_client(
        handler="rest",
        config={"path": "/catalog/products", "page_size": 100, "incremental": {"field": "updated_at"}},
        batch_size=100,
        destination={**DESTINATION, "on_missing": "delete"},
    )
    run_now(client)
    api.delete([5])

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED and not run.listing_complete
    assert run.deleted == 0 and Product.objects.count() == 250

    # A full listing of the same client (what a schedule's `full: true` asks for) deletes.
    asked = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester", full=True)
    full = run_wait_final(run_id=asked.pk, timeout=90)

    assert (full.listing_complete, full.deleted) == (True, 1)
    assert Product.objects.count() == 249 and not Product.objects.filter(sku="SKU-0000005").exists()


def test_a_failed_run_and_a_cancelled_run_delete_nothing(api: FakeApi, catalog_client) -> None:
    client = catalog_client(on_missing="delete")
    run_now(client)
    api.delete([1, 2])
    api.configure(fail_pages={"3": 404})

    failed = run_now(client)

    assert failed.status == SyncRun.Status.FAILED and failed.deleted == 0
    assert Product.objects.count() == 250

    from syncers.services import client_checkpoint_reset, run_cancel_request

    client_checkpoint_reset(client=client)
    api.configure(fail_pages={}, page_delay=0.3)
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester")
    import time

    deadline = time.monotonic() + 30
    while SyncRun.objects.get(pk=run.pk).pages < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    run_cancel_request(run=SyncRun.objects.get(pk=run.pk), who="tester")
    cancelled = run_wait_final(run_id=run.pk, timeout=60)

    assert cancelled.status == SyncRun.Status.CANCELLED and cancelled.deleted == 0
    assert Product.objects.count() == 250


def test_a_run_stopped_by_max_pages_and_the_run_resuming_it_delete_nothing(
    api: FakeApi, catalog_client
) -> None:
    client = catalog_client(on_missing="delete")
    run_now(client)
    api.delete([5, 6])  # 248 left: three pages of 100

    stopped = run_wait_final(run_id=sync_fetch_here(client=client, who="tester", max_pages=1).pk, timeout=60)

    assert (stopped.pages, stopped.listing_complete, stopped.deleted) == (1, False, 0)
    resumed = run_now(client)  # from the checkpoint after page 1: it did not read page 1

    assert (resumed.pages, resumed.listing_complete, resumed.deleted) == (2, False, 0)
    assert Product.objects.count() == 250

    full = run_now(client)  # from the start again

    assert (full.listing_complete, full.deleted) == (True, 2)
    assert Product.objects.count() == 248


def test_an_empty_listing_deletes_nothing_and_waits_for_approval_of_exactly_the_listed_keys(
    api: FakeApi, catalog_client
) -> None:
    client = catalog_client(on_missing="delete")
    client.notify_emails = ["shop-team@example.com"]
    client.save()
    run_now(client)
    api.configure(empty_listing=True)

    run = run_now(client)

    assert run.status == SyncRun.Status.PARTIAL and run.deleted == 0
    assert "empty" in run.error and "deletions waiting for approval" in run.error
    assert Product.objects.count() == 250
    waiting = deletions_waiting(client)
    assert waiting is not None and len(waiting.keys) == 250 and waiting.run_id == run.pk
    told = Notification.objects.get(client=client, event="deletions_waiting")
    assert told.recipient == "shop-team@example.com" and "deletions waiting for approval" in told.body

    # Between the hold and the approval a product appears at the source and locally; the
    # approval applies the keys shown, not a recomputation.
    Product.objects.create(sku="LOCAL-1", name="made here", price=1, updated_at=run.finished_at)
    applied = pending_deletion_approve(pending=waiting, who="tester")

    assert applied == 250
    assert list(Product.objects.values_list("sku", flat=True)) == ["LOCAL-1"]
    assert deletions_waiting(client) is None
    assert PendingDeletion.objects.get(pk=waiting.pk).decided_by == "tester"


def test_thirty_percent_missing_over_a_ten_percent_guard_waits_and_reject_keeps_the_rows(
    api: FakeApi, catalog_client
) -> None:
    client = catalog_client(on_missing="soft", soft_delete_field="is_active", max_delete_fraction=0.10)
    run_now(client)
    api.delete(list(range(1, 76)))  # 75 of 250

    run = run_now(client)

    assert run.status == SyncRun.Status.PARTIAL and "over max_delete_fraction 10%" in run.error
    assert run.deleted == 0 and len(live_skus()) == 250
    waiting = deletions_waiting(client)
    assert sorted(waiting.keys) == [f"SKU-{i:07d}" for i in range(1, 76)]
    (reason,) = needs_operator(client)
    assert reason.startswith("75 deletions waiting for approval: ")
    out = StringIO()
    with pytest.raises(CommandError) as unhealthy:  # exit 1, whatever else it finds (no beat here)
        call_command("sync_status", client.name, "--json", stdout=out)
    assert json.loads(out.getvalue())["clients"][0]["needs_operator"] == [reason]
    assert f"client {client.name} needs an operator (75 deletions" in str(unhealthy.value)

    pending_deletion_reject(pending=waiting, who="tester")

    assert deletions_waiting(client) is None and len(live_skus()) == 250
    assert needs_operator(client) == []
    with pytest.raises(ValueError, match="not waiting"):
        pending_deletion_reject(pending=waiting, who="tester")


# --- Hooks -------------------------------------------------------------------------------


def test_a_before_write_rejection_lands_in_failed_records(api: FakeApi, catalog_client) -> None:
    records = {r["id"]: r for r in api.records()}
    api.replace(8, {**records[9], "price": "0.00"})
    client = catalog_client(hooks={"before_write": "catalog.sync:reject_free_products"})

    run = run_now(client)

    assert (run.created, run.failed) == (249, 1)
    failed = FailedRecord.objects.get(client=client)
    assert (failed.external_id, failed.reason) == (
        "SKU-0000009",
        "rejected by before_write: price must be above zero",
    )


@pytest.mark.skipif(
    "locmem" in settings.CACHES["default"]["BACKEND"],
    reason="the demo hook's fail switch is in the cache, which the embedded default keeps per process",
)
def test_an_after_write_exception_rolls_its_batch_back_and_the_retry_succeeds(
    api: FakeApi, catalog_client
) -> None:
    cache.delete(COUNTS_KEY)
    cache.set(FAIL_KEY, 1, None)
    client = catalog_client(hooks={"after_write": "catalog.sync:refresh_category_counts"})
    started = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester")

    def finished() -> bool:
        reconcile()  # what beat runs every few seconds: it re-sends the batch that failed
        return SyncRun.objects.get(pk=started.pk).is_final

    wait_until(finished, timeout=60, interval=1, what="the run to finish")
    run = SyncRun.objects.get(pk=started.pk)

    assert cache.get(FAIL_KEY) == 0, "the hook failed once"
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.created, run.failed) == (250, 0), "the rolled-back batch was loaded again, once"
    assert Product.objects.count() == 250
    # The demo's cached per-category count is right after the sync.
    assert (
        cache.get(COUNTS_KEY) == category_counts() == {f"c{n}": len(range(n or 8, 251, 8)) for n in range(8)}
    )
