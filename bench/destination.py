"""The model destination through real workers, against the typed LIMIT on the same records:
the fake API's catalog listing into the demo's `catalog.Product` (first sync, unchanged
re-sync, 10 % changed, 1 % deleted with `on_missing: soft`). Import after Django is set up."""

from __future__ import annotations

import random
import subprocess
from typing import Any

import requests
from django.db import connection

from bench.pipeline import measure_sync, start_workers
from bench.typed import FIELDS, PAGE, create_tables, measure_typed_limit
from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.models import SyncClient

DESTINATION: dict[str, Any] = {
    "model": "catalog.Product",
    "key": ["sku"],
    "fields": FIELDS,
    "on_missing": "soft",
    "soft_delete_field": "is_active",
    "max_delete_fraction": 0.10,
}


def catalog_client(api: FakeApi, batch_size: int) -> SyncClient:
    """A fresh destination client over an empty catalog whose categories exist (the FK targets)."""
    from catalog.models import Category, Product

    categories = requests.get(f"{api.url}/catalog/categories", timeout=10).json()["data"]
    create_tables(categories)
    SyncClient.objects.filter(name__startswith="bench-").delete()
    Product.objects.all().delete()
    Category.objects.all().delete()
    Category.objects.bulk_create([Category(code=c["code"], name=c["name"]) for c in categories])
    conn, _ = Connection.objects.update_or_create(name="bench-api", defaults={"base_url": api.url})
    return SyncClient.objects.create(
        name="bench-catalog",
        connection=conn,
        handler="rest",
        config={"path": "/catalog/products", "page_size": PAGE},
        batch_size=batch_size,
        queue="bench",
        destination=DESTINATION,
    )


def _snapshot() -> None:
    """Remember every model row's version (xmin) to count the rows a run writes."""
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_xmin")
        cur.execute("CREATE TABLE bench_xmin AS SELECT id, xmin::text AS x FROM catalog_product")


def model_rows_written() -> int:
    """Model rows inserted or rewritten since _snapshot() (a new row version has a new xmin)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM catalog_product p LEFT JOIN bench_xmin s ON s.id = p.id "
            "WHERE s.id IS NULL OR s.x <> p.xmin::text"
        )
        return cur.fetchone()[0]


def rows_differing_from_limit() -> int:
    """Rows of catalog.Product that differ from the typed LIMIT's table (or miss there)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT p.sku, p.name, p.price, c.code, p.updated_at, p.is_active "
            "FROM catalog_product p LEFT JOIN catalog_category c ON c.id = p.category_id "
            "EXCEPT SELECT b.sku, b.name, b.price, c.code, b.updated_at, b.is_active "
            "FROM bench_product b LEFT JOIN bench_category c ON c.id = b.category_id) d"
        )
        return cur.fetchone()[0]


def _measure(client: SyncClient, worker: subprocess.Popen[bytes], n: int) -> dict[str, Any]:
    _snapshot()
    result = measure_sync(client, worker, n)
    result["ledger_rows_written"] = result["rows_written"]
    result["rows_written"] = model_rows_written()
    client.refresh_from_db()
    result["deleted"] = client.runs.order_by("-pk").values_list("deleted", flat=True)[0]
    return result


def run_destination_bench(
    api: FakeApi, n: int, env: dict[str, str], *, batch_size: int, concurrency: int
) -> dict[str, Any]:
    """typed LIMIT, then the destination's four runs through a fresh worker (its own peak RSS)."""
    from catalog.models import Product

    api.reset(records=n)
    client = catalog_client(api, batch_size)
    results: dict[str, Any] = {"typed_limit": measure_typed_limit(api, n)}
    worker = start_workers(env, "bench", concurrency)
    try:
        results["dest_first_sync"] = first = _measure(client, worker, n)
        first["rows_differing_from_typed_limit"] = rows_differing_from_limit()
        results["dest_unchanged_resync"] = _measure(client, worker, n)
        ids = random.Random(11).sample(range(1, n + 1), n // 5)
        api.update(ids[: n // 10])
        results["dest_changed_resync"] = _measure(client, worker, n)
        api.delete(ids[n // 10 : n // 10 + n // 100])
        results["dest_deleted_resync"] = deleted = _measure(client, worker, n - n // 100)
        deleted["inactive_rows"] = Product.objects.filter(is_active=False).count()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    typed = results["typed_limit"]["records_per_s"]
    first_rate = results["dest_first_sync"]["records_per_s"]
    for key in ("dest_first_sync", "dest_unchanged_resync", "dest_changed_resync", "dest_deleted_resync"):
        results[key]["ratio_to_typed_limit"] = results[key]["records_per_s"] / typed
        results[key]["ratio_to_dest_first_sync"] = results[key]["records_per_s"] / first_rate
    return results


def profile_destination(n: int, env: dict[str, str], *, batch_size: int, concurrency: int) -> str:
    """First sync and a 10 % changed re-sync with cProfile in every pool process (slower than
    the timed runs); returns the merged report (see bench/profile_worker.py)."""
    from bench.profile_worker import OUT, report

    for old in OUT.glob("worker-*.prof"):
        old.unlink()
    api = FakeApi.start(records=n)
    try:
        client = catalog_client(api, batch_size)
        worker = start_workers(env, "bench", concurrency, "--include", "bench.profile_worker")
        try:
            measure_sync(client, worker, n)
            api.update(random.Random(11).sample(range(1, n + 1), n // 10))
            measure_sync(client, worker, n)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    finally:
        api.stop()
    return report()
