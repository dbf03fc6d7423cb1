"""Load: one staged batch into the records table with one set-based merge statement.

Idempotent by construction: the batch row is locked and marked done in the same transaction
as the merge, so a re-delivered message finds it done. Within a batch duplicates collapse
(the last occurrence wins); across batches a row is only overwritten by a batch staged later
(`source_seq`), and only when its content hash differs, so unchanged rows are not rewritten.
Counts come back from the statement itself (RETURNING), not from what was sent."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, DataError, connection, transaction
from django.utils import timezone

from syncers.destinations.config import parse_destination
from syncers.destinations.load import load_into_destination
from syncers.models import FailedRecord, SyncBatch, SyncedRecord, SyncRun
from syncers.registry import SyncHandler, get_handler
from syncers.store.failed import forget_loaded, keep_failures
from syncers.versions import Version, supersedes, version_field, version_of

from .fence import check_fence, hold_client, relax_commit
from .merge import Row, merge_batch_in_database, merge_rows

log = logging.getLogger(__name__)

NUL_REASON = "contains a NUL character (\\u0000), which PostgreSQL cannot store"


@dataclass
class LoadResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[FailedRecord] = field(default_factory=list)


def load_batch(batch_id: int) -> SyncBatch | None:
    """Merge a pending batch; None when it is already done or gone (a duplicate delivery)."""
    with transaction.atomic():
        relax_commit()
        batch = (
            # of=self: lock the batch only; check_fence key-share-locks the client row.
            SyncBatch.objects.select_for_update(of=("self",))
            .select_related("client")
            .filter(pk=batch_id, state=SyncBatch.State.PENDING)
            .first()
        )
        if batch is None or SyncRun.objects.filter(pk=batch.run_id, status=SyncRun.Status.CANCELLED).exists():
            return None  # a cancelled run's batches wait for the next run, which adopts them
        if batch.fence != SyncBatch.UNFENCED:
            check_fence(batch.client_id, batch.fence)
        elif not hold_client(batch.client_id):
            return None  # its client is being deleted, and the batch with it
        counts = _merge(batch)
        batch.state = SyncBatch.State.DONE
        batch.loaded_at = timezone.now()
        batch.created, batch.updated, batch.unchanged, batch.failed, batch.older = counts
        batch.payload = ""  # loaded data lives in the records table now
        batch.save(
            update_fields=[
                "state",
                "loaded_at",
                "created",
                "updated",
                "unchanged",
                "failed",
                "older",
                "payload",
                "seen_keys",
            ]
        )
    return batch


def _merge(batch: SyncBatch) -> tuple[int, int, int, int, int]:
    """(created, updated, unchanged, failed, older) for the batch, merged in the database when
    the database can do it all, otherwise row by row."""
    client = batch.client
    handler = get_handler(client.handler)
    config = handler.clean_config(client.config or {})
    max_bytes = settings.SYNC_MAX_RECORD_BYTES
    path = version_field(config)
    if client.destination:  # one of the team's models; the records table is its ledger
        return load_into_destination(batch, parse_destination(client.destination), version_path=path)
    if connection.vendor == "postgresql" and type(handler).external_id is SyncHandler.external_id:
        try:
            with transaction.atomic():
                m = merge_batch_in_database(
                    client_id=client.pk,
                    run_id=batch.run_id,
                    batch_id=batch.pk,
                    id_field=config.get("id_field", "id"),
                    max_bytes=max_bytes,
                    # The staged payload is ASCII JSON (characters are bytes) and holds the batch.
                    check_size=len(batch.payload) > max_bytes,
                    version_path=path,
                )
            return m.created, m.updated, m.unchanged, m.failed, m.older
        except DataError as exc:  # the payload as a whole is not valid jsonb: isolate the culprits
            log.info("batch %s: merging row by row (%s)", batch.pk, str(exc).splitlines()[0])
    prepared = prepare_rows(json.loads(batch.payload), handler, config, max_bytes=max_bytes)
    rows, failures = prepared.rows, prepared.failures
    result = merge_isolating(client.pk, batch.pk, rows, versioned=path is not None)
    result.failures[:0] = failures
    kept = keep_failures(client.pk, batch.run_id, batch.pk, result.failures)
    failed_ids = {f.external_id for f in result.failures}
    loaded = [r for r in rows if r.external_id not in failed_ids]
    forget_loaded(client.pk, (r.external_id for r in loaded))
    older = prepared.older + (_older_than_stored(client.pk, loaded) if path else 0)
    return result.created, result.updated, result.unchanged + prepared.older, kept, older


def _older_than_stored(client_id: int, rows: list[Row]) -> int:
    """Rows the merge left alone because the stored copy has a higher version."""
    stored: dict[str, Any] = {}
    for start in range(0, len(rows), 500):
        ids = [r.external_id for r in rows[start : start + 500]]
        stored.update(
            SyncedRecord.objects.filter(client_id=client_id, external_id__in=ids).values_list(
                "external_id", "version"
            )
        )
    return sum(
        1
        for r in rows
        if not supersedes(None if r.version is None else (r.version,), _key(stored.get(r.external_id)))
    )


def _key(value: Any) -> Version | None:
    return None if value is None else (Decimal(value),)


@dataclass
class Prepared:
    rows: list[Row]
    failures: list[FailedRecord]
    older: int = 0  # copies dropped for a newer copy of the same record


def prepare_rows(
    records: list[Any], handler: SyncHandler, config: dict[str, Any], *, max_bytes: int | None = None
) -> Prepared:
    """Canonicalise, hash and de-duplicate (by the version rule, syncers.versions); records that
    cannot be stored become failures (`max_bytes`: the largest record's JSON text, by default
    SYNC_MAX_RECORD_BYTES). The result also says how many older copies were dropped."""
    max_bytes = settings.SYNC_MAX_RECORD_BYTES if max_bytes is None else max_bytes
    path = version_field(config)
    rows: dict[str, Row] = {}
    failures: list[FailedRecord] = []
    older = 0
    for record in records:
        text = record_text(record)
        external_id = handler.external_id(record, config)
        reason = set_aside_reason(record, external_id, text, config, max_bytes=max_bytes)
        if not reason and external_id is not None:  # no id always has a reason
            version = version_of(record, path)
            held = rows.get(external_id)
            if held is not None:
                held_version = _key(held.version)
                if not supersedes(version, held_version):
                    older += 1  # this copy is older than the one held
                    continue
                older += version != held_version  # the held copy was older
            digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
            rows.pop(external_id, None)  # re-insert so the last occurrence keeps its place
            rows[external_id] = Row(external_id, text, digest, None if version is None else version[0])
            continue
        failures.append(FailedRecord(external_id=(external_id or "")[:255], payload=text, reason=reason))
    return Prepared(list(rows.values()), failures, older)


def record_text(record: Any) -> str:
    """The record as the load stores and measures it (ASCII JSON: len() is bytes)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def set_aside_reason(
    record: Any, external_id: str | None, text: str, config: Mapping[str, Any], *, max_bytes: int
) -> str:
    """Why the load keeps `record` aside as a failed record instead of storing it; "" when it
    loads. Test fetch asks the same question (services.client_test_fetch)."""
    if external_id is None and not isinstance(record, dict):
        return f"not a JSON object ({_json_type(record)})"
    if external_id is None:
        return f"no usable id in field '{config.get('id_field', 'id')}'"
    if len(external_id) > 255:
        return "id longer than 255 characters"
    if "\\u0000" in text:
        return NUL_REASON
    if len(text) > max_bytes:
        return f"record of {len(text)} bytes of JSON, over SYNC_MAX_RECORD_BYTES ({max_bytes})"
    return ""


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, as PostgreSQL's jsonb_typeof says it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "array"


def merge_isolating(client_id: int, batch_id: int, rows: list[Row], *, versioned: bool = False) -> LoadResult:
    """Merge all rows at once; if the database rejects the statement, split it in halves
    (each in a savepoint) until the rejected records are alone, and keep those as failures."""
    result = LoadResult()
    if not rows:
        return result
    try:
        with transaction.atomic():
            merged = merge_rows(client_id, batch_id, rows, versioned=versioned)
    except DatabaseError as exc:
        if len(rows) == 1:
            reason = f"rejected by the database: {str(exc).strip().splitlines()[0]}"
            result.failures.append(
                FailedRecord(external_id=rows[0].external_id, payload=rows[0].data, reason=reason)
            )
            return result
        half = len(rows) // 2
        for part in (rows[:half], rows[half:]):
            sub = merge_isolating(client_id, batch_id, part, versioned=versioned)
            result.created += sub.created
            result.updated += sub.updated
            result.unchanged += sub.unchanged
            result.failures += sub.failures
        return result
    result.created, result.updated, result.unchanged = merged.created, merged.updated, merged.unchanged
    return result
