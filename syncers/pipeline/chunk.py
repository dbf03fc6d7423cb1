"""Chunk staged records into batches and send their ids to the client's queue. Messages carry
only a batch id; the records wait in the database."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from celery import current_app
from django.db.models import F
from django.utils import timezone

from syncers.models import SyncBatch

LOAD_BATCH_TASK = "syncers.load_batch"


def chunked(records: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def build_batches(
    *,
    run_id: int,
    client_id: int,
    fence: int,
    page: int,
    records: Sequence[Any],
    size: int,
) -> list[SyncBatch]:
    """Unsaved batches for one page. ensure_ascii keeps odd strings (lone surrogates) storable
    in the staging table; bad records are sorted out by the load step, not here."""
    return [
        SyncBatch(
            run_id=run_id,
            client_id=client_id,
            fence=fence,
            page=page,
            size=len(chunk),
            payload=json.dumps(chunk, separators=(",", ":")),
        )
        for chunk in chunked(records, size)
    ]


def dispatch_batches(batch_ids: Sequence[int], queue: str) -> None:
    """Send load tasks. Call after the batches are committed (a worker must find the rows)."""
    if not batch_ids:
        return
    SyncBatch.objects.filter(pk__in=batch_ids, state=SyncBatch.State.PENDING).update(
        dispatched_at=timezone.now(), attempts=F("attempts") + 1
    )
    for batch_id in batch_ids:
        current_app.send_task(LOAD_BATCH_TASK, args=[batch_id], queue=queue)
