"""Failed records: one row per (client, record key), however often the record fails.

The record key is the external id, or "sha256:<digest of the payload text>" for a record
without a usable id. A repeat failure bumps `attempts` and takes the latest run, batch,
reason and payload; a record that later loads leaves the list. The PostgreSQL merge does the
same inside its statement (see merge.py); these functions serve the row-by-row path."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from itertools import islice

from django.db import connection
from django.utils import timezone

from syncers.models import FailedRecord

_CHUNK = 500  # parameters per statement stay far below SQLite's limit


def record_key(external_id: str, payload: str) -> str:
    """The identity of a failed record: its id, else a digest of its payload text."""
    return external_id or "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def keep_failures(
    client_id: int, run_id: int | None, batch_id: int | None, failures: list[FailedRecord]
) -> int:
    """Upsert `failures` (unsaved FailedRecord objects: external_id, payload, reason) for the
    client; the number of distinct records kept. Copies of one record in `failures` count once."""
    by_key: dict[str, FailedRecord] = {}
    for failure in failures:
        by_key[record_key(failure.external_id, failure.payload)] = failure  # the last copy wins
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    table = FailedRecord._meta.db_table
    items = list(by_key.items())
    for start in range(0, len(items), _CHUNK):
        part = items[start : start + _CHUNK]
        params: list[object] = []
        for key, f in part:
            params += [client_id, run_id, batch_id, f.external_id[:255], key, f.payload, f.reason, now, now]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, 1, %s, %s)"] * len(part))
        sql = (
            f"INSERT INTO {table} (client_id, run_id, batch_id, external_id, record_key, payload, reason, "
            f"attempts, created_at, last_seen_at) VALUES {values} "
            f"ON CONFLICT (client_id, record_key) DO UPDATE SET attempts = {table}.attempts + 1, "
            "run_id = excluded.run_id, batch_id = excluded.batch_id, external_id = excluded.external_id, "
            "payload = excluded.payload, reason = excluded.reason, last_seen_at = excluded.last_seen_at"
        )
        with connection.cursor() as cur:
            cur.execute(sql, params)
    return len(items)


def forget_loaded(client_id: int, external_ids: Iterable[str]) -> int:
    """Remove the failed records of records that have now loaded; how many were removed."""
    if not FailedRecord.objects.filter(client_id=client_id).exists():
        return 0  # the usual case: nothing to look up
    removed = 0
    ids = iter(external_ids)
    while part := list(islice(ids, _CHUNK)):
        removed += FailedRecord.objects.filter(client_id=client_id, record_key__in=part).delete()[0]
    return removed
