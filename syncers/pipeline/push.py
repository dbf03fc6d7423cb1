"""Records that did not come from a fetch — pushed by a third party (the webhook) or failed
records an operator retries — enter the same pipeline after the fetch step: staged as
batches of a run of their own and loaded by the same workers, upsert and failed-record
handling. Such a run calls no API and holds no lease, so its batches load unfenced."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from syncers.models import SyncBatch, SyncClient, SyncRun

from .chunk import build_batches, dispatch_batches, insert_batches
from .log import finalise_if_complete


def stage_records(*, client: SyncClient, records: list[Any], trigger: str, who: str) -> SyncRun:
    """Stage records as one page of a new run that has nothing to fetch; dispatch after commit."""
    now = timezone.now()
    with transaction.atomic():
        run = SyncRun.objects.create(
            client=client, trigger=trigger, triggered_by=who[:150], status=SyncRun.Status.RUNNING,
            started_at=now, fetch_done=True, pages=1, fetched=len(records),
        )  # fmt: skip
        batches = build_batches(
            run_id=run.pk,
            client_id=client.pk,
            fence=SyncBatch.UNFENCED,
            page=1,
            records=records,
            size=client.batch_size,
        )
        ids = insert_batches(batches) if batches else []
        transaction.on_commit(partial(dispatch_batches, ids, client.queue, recorded=True))
    if not ids:
        finalise_if_complete(run.pk)
    return run
