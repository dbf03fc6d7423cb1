"""Stage: a fetched page, its batches and the checkpoint after it are committed together, so a
crash never loses a page that the checkpoint says is done."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from syncers.models import SyncBatch, SyncClient, SyncRun
from syncers.registry import Page
from syncers.store.cursor import server_cursor

from .chunk import build_batches, compact, dispatch_batches, insert_batches
from .fence import fenced
from .unchanged import Lookup, Split, UnchangedFilter


class Cancelled(Exception):
    """An operator asked this run to stop; it stops between pages."""


@dataclass
class OpenBatch:
    """A run's last staged batch while it holds fewer records than the batch size and than a
    page, and has not been sent: on a re-sync, where each page stages only its changed
    records, the next pages' records join it (each in its own page's transaction, so each is
    durable with its checkpoint) instead of making a small batch, and so a small load task, of
    their own. It is sent when it is full, when a page cannot join it, and when fetching ends
    (`send_open`)."""

    queue: str
    id: int | None = None
    size: int = 0


# Joins only a pending batch, and only if no other run staged a batch for the client since:
# the joining records then still rank after everything staged before them (source_seq).
_JOIN = """
UPDATE syncers_syncbatch SET payload = left(payload, -1) || ',' || substr(%(more)s, 2),
       size = size + %(n)s
WHERE id = %(id)s AND state = 'pending'
  AND NOT EXISTS (SELECT 1 FROM syncers_syncbatch o
                  WHERE o.client_id = %(client)s AND o.id > %(id)s AND o.run_id <> %(run)s)
RETURNING id
"""


def stage_page(
    *,
    run: SyncRun,
    page: Page,
    batch_size: int,
    queue: str,
    unchanged: UnchangedFilter | None = None,
    looked_up: Lookup | Literal["now"] | None = "now",
    open_batch: OpenBatch | None = None,
    stop_if_cancelled: bool = False,
) -> list[int]:
    """Store one page as batches and advance the checkpoint; dispatch after commit.
    `unchanged`: leave out the records the ledger holds as they are (pipeline.unchanged);
    they are counted, and their keys kept as seen, by a batch row that is done already;
    `looked_up`: the page's ledger look-up when done ahead (UnchangedFilter.ahead).
    `open_batch`: a page that skipped records stages the rest into the open batch when they
    fit, and leaves its own last batch open when that is not full (see OpenBatch).
    `stop_if_cancelled`: raise Cancelled, staging nothing, when an operator asked the run to
    stop (read with the fence, in its round trip)."""
    split = unchanged.split(page.records, looked_up) if unchanged is not None else Split(page.records)
    # A joined batch holds no more than a page: each join rewrites the staged payload, and a
    # smaller batch starts loading sooner (measured: see the commit).
    room = min(batch_size, len(page.records))
    send: list[int] = []
    with fenced(run.client_id, run.fence, run_id=run.pk if stop_if_cancelled else None) as cancelled:
        if cancelled:
            raise Cancelled
        joined = (
            open_batch is not None
            and open_batch.id is not None
            and split.stage
            and open_batch.size + len(split.stage) <= room
            and _join(run, open_batch, split.stage)
        )
        ids: list[int] = []
        if not joined:
            batches = build_batches(
                run_id=run.pk,
                client_id=run.client_id,
                fence=run.fence,  # type: ignore[arg-type]  # fenced() above refused a run with no fence
                page=page.number,
                records=split.stage,
                size=batch_size,
            )
            ids = insert_batches(batches) if batches else []
            send = list(ids)
            if open_batch is not None and batches:
                if open_batch.id is not None:
                    send.insert(0, open_batch.id)  # closed: it goes out before the new ones
                open_batch.id = None
                if split.unchanged and batches[-1].size < room:
                    open_batch.id, open_batch.size = ids[-1], batches[-1].size
                    send.pop()
        elif open_batch is not None and open_batch.id is not None and open_batch.size >= room:
            send, open_batch.id = [open_batch.id], None  # joined and now full: it goes out
        _page_done(run, page, split)
        transaction.on_commit(partial(dispatch_batches, send, queue, recorded=True))
    return ids


def _join(run: SyncRun, open_batch: OpenBatch, records: list[Any]) -> bool:
    assert open_batch.id is not None
    more = "[" + ",".join(map(compact, records)) + "]"
    params = {"more": more, "n": len(records), "id": open_batch.id, "client": run.client_id, "run": run.pk}
    with server_cursor() as cur, connection.wrap_database_errors:
        cur.execute(_JOIN, params)
        if cur.fetchone() is None:
            return False
    open_batch.size += len(records)
    return True


def send_open(open_batch: OpenBatch) -> None:
    """Send the open batch, if any (fetching is over, whichever way: a run that failed or was
    cancelled still has its staged records loaded or adopted, as with every staged batch)."""
    if open_batch.id is not None:
        batch_id, open_batch.id = open_batch.id, None
        dispatch_batches([batch_id], open_batch.queue, recorded=True)


# The checkpoint after the page, the unchanged records' done batch (if any) and the run's
# counts, in one statement: the client row first, as save_checkpoint then the run's update did.
_PAGE_DONE = """
WITH unchanged AS (
    INSERT INTO syncers_syncbatch (client_id, run_id, fence, page, size, payload, state, attempts,
                                   loaded_at, created, updated, unchanged, failed, older, seen_keys)
    SELECT %(client)s, %(run)s, %(fence)s, %(page)s, %(skipped)s, '', 'done', 0,
           %(now)s, 0, 0, %(skipped)s, 0, 0, %(seen)s::jsonb
    WHERE %(skipped)s > 0
), counts AS (
    UPDATE syncers_syncrun SET pages = pages + 1, fetched = fetched + %(fetched)s,
           listing_total = COALESCE(%(total)s::integer, listing_total)
    WHERE id = %(run)s
)
UPDATE syncers_syncclient SET checkpoint = %(checkpoint)s::jsonb, checkpoint_at = %(now)s
WHERE id = %(client)s
"""


def _page_done(run: SyncRun, page: Page, split: Split) -> None:
    """Inside the page's transaction: what commits with its staged batches (see _PAGE_DONE)."""
    if connection.vendor != "postgresql":
        if split.unchanged:
            _record_unchanged(run, page.number, split)
        save_checkpoint(run.client_id, page.checkpoint)
        listed = {} if page.total is None else {"listing_total": page.total}
        SyncRun.objects.filter(pk=run.pk).update(
            pages=F("pages") + 1, fetched=F("fetched") + len(page.records), **listed
        )
        return
    params = {
        "client": run.client_id,
        "run": run.pk,
        "fence": run.fence,
        "page": page.number,
        "skipped": split.unchanged,
        "seen": None if split.seen_keys is None else compact(split.seen_keys),
        "now": timezone.now(),
        "fetched": len(page.records),
        "total": page.total,
        # As the JSONField stores it: SQL NULL for None, else json.dumps's text.
        "checkpoint": None if page.checkpoint is None else json.dumps(page.checkpoint),
    }
    with server_cursor() as cur, connection.wrap_database_errors:
        cur.execute(_PAGE_DONE, params)


def _record_unchanged(run: SyncRun, page: int, split: Split) -> None:
    """The skipped records as a batch that is loaded already: its counts add to the run's and
    its seen keys tell the deletions which keys the run saw (as a loaded batch's do)."""
    now = timezone.now()
    SyncBatch.objects.create(
        run_id=run.pk,
        client_id=run.client_id,
        fence=run.fence,  # type: ignore[misc]  # recorded under fenced(): the run has a fence
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
