"""Failed records: one row per (client, record key), however often the record fails.

The record key is the external id, or "sha256:<digest of the payload text>" for a record
without a usable id. A repeat failure bumps `attempts` and takes the latest run, batch,
reason and payload; a record that later loads leaves the list. The PostgreSQL merge does the
same inside its statement (see syncers.pipeline.merge); these functions serve the row-by-row path."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any

from django.db import DataError, connection, transaction
from django.utils import timezone

from syncers.models import FailedRecord
from syncers.models.records import failed_record_key as record_key

__all__ = ["forget_loaded", "keep_failures", "record_key"]

_CHUNK = 500  # parameters per statement stay far below SQLite's limit


def keep_failures(
    client_id: int, run_id: int | None, batch_id: int | None, failures: list[FailedRecord]
) -> int:
    """Upsert `failures` (unsaved FailedRecord objects: external_id, payload, reason) for the
    client; the number of distinct records kept. Copies of one record in `failures` count once."""
    by_key: dict[str, FailedRecord] = {}
    printed = _as_postgresql_prints([f.payload for f in failures if not f.external_id])
    for failure in failures:
        key = record_key(failure.external_id, printed.get(failure.payload, failure.payload))
        by_key[key] = failure  # the last copy wins
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    table = FailedRecord._meta.db_table
    items = list(by_key.items())
    for start in range(0, len(items), _CHUNK):
        part = items[start : start + _CHUNK]
        params: list[Any] = []
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


def _as_postgresql_prints(payloads: list[str]) -> dict[str, str]:
    """On PostgreSQL, keyless records are keyed by their jsonb text, as the in-database merge
    keys them, so a record keeps its key whichever merge path saw it. A payload jsonb cannot
    hold (a \\u0000) keeps its own text."""
    if connection.vendor != "postgresql" or not payloads:
        return {}
    printed: dict[str, str] = {}
    for payload in dict.fromkeys(payloads):
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SELECT CAST(%s AS jsonb)::text", [payload])
                printed[payload] = cur.fetchone()[0]
        except DataError:
            continue
    return printed


def forget_loaded(client_id: int, external_ids: Iterable[str]) -> int:
    """Remove the failed records of records that have now loaded; how many were removed."""
    if not FailedRecord.objects.filter(client_id=client_id).exists():
        return 0  # the usual case: nothing to look up
    removed = 0
    ids = iter(external_ids)
    while part := list(islice(ids, _CHUNK)):
        removed += FailedRecord.objects.filter(client_id=client_id, record_key__in=part).delete()[0]
    return removed
