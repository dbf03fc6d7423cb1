"""Chunk staged records into batches and send their ids to the client's queue. Messages carry
only a batch id; the records wait in the database."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from typing import Any

import orjson
from celery import current_app
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from syncers.models import SyncBatch
from syncers.store.cursor import server_cursor

LOAD_BATCH_TASK = "syncers.load_batch"


def chunked(records: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


# Types orjson would write but json.dumps refuses (or writes otherwise) go to json.dumps.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def compact(record: Any) -> str:
    """A record's text in a staged payload: compact ASCII JSON (`\\u` escapes keep odd strings
    such as lone surrogates storable, and len() is bytes). orjson writes it about four times
    as fast as json.dumps; whatever orjson refuses or would write as non-ASCII (integers over
    64 bits, subclasses, non-string keys, non-ASCII text) is written by json.dumps. Numbers
    may be spelled differently by the two (1e+16 / 1e16): the same value once stored as jsonb.
    The load's content hash is the MD5 of this text (merge.py, pipeline.unchanged)."""
    try:
        data = orjson.dumps(record, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(record, separators=(",", ":"))
    if data.isascii():
        return data.decode("ascii")
    return json.dumps(record, separators=(",", ":"))


def compact_bytes(record: Any) -> bytes:
    """compact(record) as ASCII bytes, for hashing it without a decode and an encode."""
    try:
        data = orjson.dumps(record, option=_ORJSON_OPTIONS)
    except TypeError:
        return json.dumps(record, separators=(",", ":")).encode()
    if data.isascii():
        return data
    return json.dumps(record, separators=(",", ":")).encode()


def build_batches(
    *,
    run_id: int,
    client_id: int,
    fence: int,
    page: int,
    records: Sequence[Any],
    size: int,
) -> list[SyncBatch]:
    """Unsaved batches for one page, each payload a JSON array of the records' compact texts;
    bad records are sorted out by the load step, not here."""
    now = timezone.now()
    return [
        SyncBatch(
            run_id=run_id,
            client_id=client_id,
            fence=fence,
            page=page,
            size=len(chunk),
            payload="[" + ",".join(map(compact, chunk)) + "]",
            # Counted as sent already: the fetcher sends right after the commit (see stage_page).
            attempts=1,
            dispatched_at=now,
        )
        for chunk in chunked(records, size)
    ]


# A staged batch's columns as insert_batches (and stage._STAGE) write them.
BATCH_COLUMNS = (
    *("client_id", "run_id", "fence", "page", "size", "payload"),
    *("state", "attempts", "dispatched_at", "created", "updated", "unchanged", "failed"),
)


def insert_batches(batches: list[SyncBatch]) -> list[int]:
    """Store batches and return their ids. On PostgreSQL the payloads travel as separate
    parameters (see syncers.store.cursor) instead of being quoted into the SQL text."""
    if connection.vendor != "postgresql":
        return [b.pk for b in SyncBatch.objects.bulk_create(batches)]
    row = "(" + ", ".join(["%s"] * len(BATCH_COLUMNS)) + ")"
    sql = f"INSERT INTO syncers_syncbatch ({', '.join(BATCH_COLUMNS)}) VALUES {', '.join([row] * len(batches))} RETURNING id"
    params = [getattr(b, column) for b in batches for column in BATCH_COLUMNS]
    with server_cursor() as cur, connection.wrap_database_errors:
        cur.execute(sql, params)
        return [r[0] for r in cur.fetchall()]


# Off while a command loads the batches in its own process (sync_run --inline).
SEND_TO_WORKERS: ContextVar[bool] = ContextVar("send_batches_to_workers", default=True)


def dispatch_batches(batch_ids: Sequence[int], queue: str, *, recorded: bool = False) -> None:
    """Send load tasks. Call after the batches are committed (a worker must find the rows).
    `recorded`: the rows already count this send (set when they were staged)."""
    if not batch_ids:
        return
    if not recorded:
        with transaction.atomic():
            # A batch locked right now is being loaded (or its loader is frozen until the
            # database ends its session): skip it rather than wait; the next pass re-sends it.
            batch_ids = list(
                SyncBatch.objects.select_for_update(skip_locked=True)
                .filter(pk__in=batch_ids, state=SyncBatch.State.PENDING)
                .values_list("pk", flat=True)
            )
            SyncBatch.objects.filter(pk__in=batch_ids).update(
                dispatched_at=timezone.now(), attempts=F("attempts") + 1
            )
    if not SEND_TO_WORKERS.get():
        return
    for batch_id in batch_ids:
        current_app.send_task(LOAD_BATCH_TASK, args=[batch_id], queue=queue)
