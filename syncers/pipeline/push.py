"""Records pushed by a third party (the webhook) enter the same pipeline after the fetch:
they are staged as batches of a run with trigger "webhook" and loaded by the same workers,
upsert and failed-record handling. Pushing needs no lease (it calls no API), so its batches
load unfenced."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from syncers.models import SyncBatch, SyncClient, SyncRun

from .chunk import build_batches, dispatch_batches, insert_batches
from .log import finalise_if_complete


def stage_pushed(*, client: SyncClient, records: list[Any], who: str) -> SyncRun:
    """Stage pushed records as one page of a new webhook run; dispatch after commit."""
    now = timezone.now()
    with transaction.atomic():
        run = SyncRun.objects.create(
            client=client, trigger=SyncRun.Trigger.WEBHOOK, triggered_by=who[:150], status=SyncRun.Status.RUNNING,
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
