"""A destination load killed in the middle of a batch: the batch's model rows, its ledger
rows and its done mark commit together, so the re-delivered batch writes every row exactly
once and the run's counts stay honest; a duplicate delivery of a done batch changes nothing."""

from __future__ import annotations

import time

import pytest

from catalog.models import Category, Product
from fakeapi.listings import CATALOG_PRODUCT_FIELDS, CATEGORIES
from syncers.models import FailedRecord, SyncBatch, SyncedRecord, SyncRun
from syncers.pipeline import load_and_finalise
from tests.processes import wait_until

from .conftest import Scenario
from .harness import kill, load_marks, wait_for_pool

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DESTINATION = {
    "model": "catalog.Product",
    "key": ["sku"],
    "fields": CATALOG_PRODUCT_FIELDS,
    "hooks": {"before_write": "tests.faults.slow_handler:slow_rows"},
}


def test_a_destination_load_killed_mid_batch_is_redelivered_and_every_row_written_once(
    scenario: Scenario,
) -> None:
    Category.objects.bulk_create(Category(**c) for c in CATEGORIES)
    scenario.serve(records=100)
    client = scenario.make_client(batch_size=25, path="/catalog/products")
    client.destination = DESTINATION
    client.full_clean()
    client.save()
    worker = scenario.worker(concurrency=1)
    (child,) = wait_for_pool(worker, 1)
    run = scenario.run_now()

    def mid_batch() -> bool:
        rows = load_marks(scenario.procs.marker_dir).get(child) or []
        return len(rows) >= 5 and time.time() - rows[-1][0] < 1

    wait_until(mid_batch, timeout=30, what="a batch half written")
    kill(child)

    # Rolled back whole: nothing of the killed batch is in the model or the ledger.
    assert Product.objects.count() == SyncedRecord.objects.filter(client=client).count()
    assert Product.objects.count() % 25 == 0
    scenario.settle(timeout=90)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.created, run.updated, run.unchanged, run.failed) == (100, 0, 0, 0)
    assert sorted(Product.objects.values_list("sku", flat=True)) == [f"SKU-{i:07d}" for i in range(1, 101)]
    assert SyncedRecord.objects.filter(client=client).count() == 100
    assert not FailedRecord.objects.exists()

    again = SyncBatch.objects.filter(run=run).first()
    assert load_and_finalise(again.pk) is None, "a duplicate delivery of a done batch does nothing"
    assert Product.objects.count() == 100
