"""Stage: a fetched page, its batches and the checkpoint after it are committed together, so a
crash never loses a page that the checkpoint says is done."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from syncers.models import SyncBatch, SyncClient, SyncRun
from syncers.registry import Page

from .chunk import build_batches, dispatch_batches, insert_batches
from .fence import fenced
from .unchanged import Split, UnchangedFilter


def stage_page(
    *, run: SyncRun, page: Page, batch_size: int, queue: str, unchanged: UnchangedFilter | None = None
) -> list[int]:
    """Store one page as batches and advance the checkpoint; dispatch after commit.
    `unchanged`: leave out the records the ledger holds as they are (pipeline.unchanged);
    they are counted, and their keys kept as seen, by a batch row that is done already."""
    split = unchanged.split(page.records) if unchanged is not None else Split(page.records)
    with fenced(run.client_id, run.fence):
        batches = build_batches(
            run_id=run.pk,
            client_id=run.client_id,
            fence=run.fence,
            page=page.number,
            records=split.stage,
            size=batch_size,
        )
        ids = insert_batches(batches) if batches else []
        if split.unchanged:
            _record_unchanged(run, page.number, split)
        save_checkpoint(run.client_id, page.checkpoint)
        SyncRun.objects.filter(pk=run.pk).update(
            pages=F("pages") + 1, fetched=F("fetched") + len(page.records)
        )
        transaction.on_commit(partial(dispatch_batches, ids, queue, recorded=True))
    if unchanged is not None:
        unchanged.batches_staged(ids)
    return ids


def _record_unchanged(run: SyncRun, page: int, split: Split) -> None:
    """The skipped records as a batch that is loaded already: its counts add to the run's and
    its seen keys tell the deletions which keys the run saw (as a loaded batch's do)."""
    now = timezone.now()
    SyncBatch.objects.create(
        run_id=run.pk,
        client_id=run.client_id,
        fence=run.fence,
        page=page,
        size=split.unchanged,
        payload="",
        state=SyncBatch.State.DONE,
        loaded_at=now,
        unchanged=split.unchanged,
        seen_keys=split.seen_keys,
    )


def save_checkpoint(client_id: int, checkpoint: dict[str, Any] | None) -> None:
    SyncClient.objects.filter(pk=client_id).update(checkpoint=checkpoint, checkpoint_at=timezone.now())


def finish_fetch(
    *,
    run: SyncRun,
    error: str = "",
    kind: str = "",
    retry_after: float | None = None,
    keep_checkpoint: bool = False,
    next_checkpoint: dict[str, Any] | None = None,
    complete: bool = False,
) -> None:
    """Mark fetching over. A clean end sets the checkpoint to `next_checkpoint` (None: the
    next run reads from the start; an incremental cursor otherwise); an error keeps it, so
    the next run resumes where this one stopped. `complete`: the run read the whole listing
    from its start (see destinations.deletions)."""
    with fenced(run.client_id, run.fence):
        if not error and not keep_checkpoint:
            save_checkpoint(run.client_id, next_checkpoint)
        SyncRun.objects.filter(pk=run.pk).update(
            fetch_done=True,
            error=error,
            error_kind=kind,
            retry_after=retry_after,
            listing_complete=complete and not error and not keep_checkpoint,
        )
