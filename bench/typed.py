"""The typed LIMIT: what one process can do to load the fake API's products into a table shaped
like the demo's `catalog.Product` (typed columns, a category foreign key by natural key), with
no framework in the way: fetch → COPY text into typed staging columns (PostgreSQL does the
Decimal and timestamp conversion) → one INSERT … SELECT … JOIN (the FK lookup) … ON CONFLICT
merge. The model destination is measured against it on the same records. Import after Django
is set up (see bench/__main__.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from django.db import connection, transaction

from fakeapi.control import FakeApi
from fakeapi.listings import CATALOG_PRODUCT_FIELDS

PAGE = 1000

# Model field <- dotted record path, as the destination maps it (category: natural key `code`).
FIELDS = CATALOG_PRODUCT_FIELDS

# The tables of catalog.Product / catalog.Category as Django created them (identity keys, the
# unique key columns with Django's pattern-ops indexes, defaults), copied from the migrated
# tables so they cannot drift; LIKE copies no foreign key, so the deferrable one is added.
_DDL = [
    "DROP TABLE IF EXISTS bench_product",
    "DROP TABLE IF EXISTS bench_category",
    "CREATE TABLE bench_category (LIKE catalog_category INCLUDING ALL)",
    "CREATE TABLE bench_product (LIKE catalog_product INCLUDING ALL)",
    "ALTER TABLE bench_product ADD FOREIGN KEY (category_id) REFERENCES bench_category (id)"
    " DEFERRABLE INITIALLY DEFERRED",
]

_STAGE = (
    "CREATE TEMP TABLE bench_typed_stage (sku varchar(40), name varchar(200), price numeric(10,2),"
    " category_code text, updated_at timestamptz) ON COMMIT DROP"
)

# Newest version wins inside the listing; unchanged rows are not rewritten; a row that comes
# back is live again. Rows whose category is unknown are left out (the join), as the
# destination turns them into failed records.
_MERGE = """
INSERT INTO bench_product AS p (sku, name, price, category_id, updated_at, is_active)
SELECT DISTINCT ON (s.sku) s.sku, s.name, s.price, c.id, s.updated_at, true
FROM bench_typed_stage s JOIN bench_category c ON c.code = s.category_code
ORDER BY s.sku, s.updated_at DESC
ON CONFLICT (sku) DO UPDATE SET name = excluded.name, price = excluded.price,
    category_id = excluded.category_id, updated_at = excluded.updated_at, is_active = true
WHERE (p.name, p.price, p.category_id, p.updated_at, p.is_active)
    IS DISTINCT FROM (excluded.name, excluded.price, excluded.category_id, excluded.updated_at, true)
"""


def getter(path: str) -> Callable[[dict[str, Any]], Any]:
    """A dotted record path as one function (list items by number)."""
    steps = [int(s) if s.isdigit() else s for s in path.split(".")]
    if len(steps) == 1:
        key = steps[0]
        return lambda record: record[key]

    def dig(record: Any) -> Any:
        for step in steps:
            record = record[step]
        return record

    return dig


def _paths(fields: dict[str, Any]) -> list[str]:
    order = ("sku", "name", "price", "category", "updated_at")
    return [fields[f]["path"] if isinstance(fields[f], dict) else fields[f] for f in order]


_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(records: list[dict[str, Any]], getters: list[Callable[[dict[str, Any]], Any]]) -> str:
    """COPY's text format for the staging columns; every value escaped."""
    return "".join(
        "\t".join([str(get(record)).translate(_ESCAPE) for get in getters]) + "\n" for record in records
    )


def create_tables(categories: list[dict[str, str]]) -> None:
    """Fresh typed tables, with the categories the FK lookup resolves against."""
    with connection.cursor() as cur:
        for statement in _DDL:
            cur.execute(statement)
        cur.executemany(
            "INSERT INTO bench_category (code, name) VALUES (%s, %s)",
            [(c["code"], c["name"]) for c in categories],
        )


def measure_typed_limit(
    api: FakeApi, n: int, *, fields: dict[str, Any] = FIELDS, path: str = "/catalog/products"
) -> dict[str, Any]:
    """One process: fetch every page, COPY each into typed staging, one merge at the end."""
    from bench.pipeline import _cpu_seconds, one_process_result, reset_peak_rss

    getters = [getter(p) for p in _paths(fields)]
    reset_peak_rss()
    cpu = _cpu_seconds()
    start = time.perf_counter()
    http = requests.Session()
    with transaction.atomic(), connection.cursor() as cur:
        raw = connection.connection  # psycopg 3 connection under Django's wrapper
        cur.execute(_STAGE)
        page = 1
        while True:
            records = http.get(f"{api.url}{path}", params={"page": page, "per_page": PAGE}).json()["data"]
            if records:
                with raw.cursor().copy("COPY bench_typed_stage FROM STDIN") as copy:
                    copy.write(copy_text(records, getters))
            if len(records) < PAGE:
                break
            page += 1
        cur.execute(_MERGE)
        written = cur.rowcount
    return one_process_result(start, n, written, cpu)
