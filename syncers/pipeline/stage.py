"""Stage: a fetched page, its batches and the checkpoint after it are committed together, so a
crash never loses a page that the checkpoint says is done."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, Literal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from syncers.models import SyncBatch, SyncClient, SyncRun
from syncers.registry import Page
from syncers.store.cursor import server_cursor

from .chunk import BATCH_COLUMNS, build_batches, compact, dispatch_batches, insert_batches
from .fence import FenceLost, check_fence, fenced
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
    staging = _Staging(run, page, split, batch_size, room, open_batch)
    cancel_run = run.pk if stop_if_cancelled else None
    if connection.vendor == "postgresql":
        send = _stage_in_one_statement(staging, cancel_run)
    else:  # no unchanged filter there (pipeline.unchanged), so no open batch to join
        with fenced(run.client_id, run.fence, run_id=cancel_run) as cancelled:
            if cancelled:
                raise Cancelled
            batches = staging.batches()
            send = staging.inserted(batches, insert_batches(batches) if batches else [])
            _page_done_elsewhere(run, page, split)
    transaction.on_commit(partial(dispatch_batches, send, queue, recorded=True))
    return staging.ids


@dataclass
class _Staging:
    """A page's staging decisions: whether its records join the open batch, its own batches
    otherwise, and which batch ids go out after the commit."""

    run: SyncRun
    page: Page
    split: Split
    batch_size: int
    room: int
    open_batch: OpenBatch | None
    ids: list[int] = field(default_factory=list)

    def joins(self) -> bool:
        ob = self.open_batch
        return bool(
            ob is not None
            and ob.id is not None
            and self.split.stage
            and ob.size + len(self.split.stage) <= self.room
        )

    def batches(self) -> list[SyncBatch]:
        return build_batches(
            run_id=self.run.pk,
            client_id=self.run.client_id,
            fence=self.run.fence,  # type: ignore[arg-type]  # the fence check refuses a run with no fence
            page=self.page.number,
            records=self.split.stage,
            size=self.batch_size,
        )

    def joined(self) -> list[int]:
        """The records joined the open batch: it goes out once full."""
        ob = self.open_batch
        assert ob is not None and ob.id is not None
        ob.size += len(self.split.stage)
        if ob.size < self.room:
            return []
        send, ob.id = [ob.id], None
        return send

    def inserted(self, batches: list[SyncBatch], ids: list[int]) -> list[int]:
        """The page's own `batches` were inserted as `ids`: the open batch, if any, is closed
        and goes out first; the page's last batch stays open when records were skipped and it
        is not full."""
        self.ids = ids
        send = list(ids)
        ob = self.open_batch
        if ob is not None and ids:
            if ob.id is not None:
                send.insert(0, ob.id)  # closed: it goes out before the new ones
            ob.id = None
            if self.split.unchanged and batches[-1].size < self.room:
                ob.id, ob.size = ids[-1], batches[-1].size
                send.pop()
        return send


# Joins only a pending batch, and only if no other run staged a batch for the client since:
# the joining records then still rank after everything staged before them (source_seq).
_JOIN = """UPDATE syncers_syncbatch SET payload = left(payload, -1) || ',' || substr(%(payload0)s::text, 2),
           size = size + %(size0)s::integer
    WHERE id = %(join)s AND state = 'pending' AND EXISTS (SELECT 1 FROM ok)
      AND NOT EXISTS (SELECT 1 FROM syncers_syncbatch o
                      WHERE o.client_id = %(client)s AND o.id > %(join)s AND o.run_id <> %(run)s)
    RETURNING id"""

# A page in one statement (PostgreSQL), its own transaction: the fence check (as
# fence.check_fence, whose key-share lock it takes first), the page's records (joining the open
# batch, or as batches of their own when there is none or it cannot be joined), the unchanged
# records' done batch, the run's counts and the checkpoint after the page. Nothing is written
# unless the fence is current and no cancel was asked for. The client row is updated first,
# then the batches and the run, as save_checkpoint then the run's update did.
_STAGE = """
WITH f AS (
    SELECT fence, {cancel} AS cancel, set_config('synchronous_commit', 'off', true)
    FROM syncers_syncclient WHERE id = %(client)s FOR KEY SHARE
), ok AS (
    SELECT 1 FROM f WHERE fence = %(fence)s AND NOT cancel
), joined AS (
    {joined}
), staged AS (
    -- As chunk.insert_batches writes build_batches' rows.
    INSERT INTO syncers_syncbatch ({columns})
    SELECT %(client)s, %(run)s, %(fence)s, %(page)s, b.size, b.payload, 'pending', 1,
           %(now)s, 0, 0, 0, 0
    FROM ok, ({batches}) AS b(size, payload, ord)
    WHERE NOT EXISTS (SELECT 1 FROM joined)
    ORDER BY b.ord
    RETURNING id
), unchanged AS (
    INSERT INTO syncers_syncbatch (client_id, run_id, fence, page, size, payload, state, attempts,
                                   loaded_at, created, updated, unchanged, failed, older, seen_keys)
    SELECT %(client)s, %(run)s, %(fence)s, %(page)s, %(skipped)s, '', 'done', 0,
           %(now)s, 0, 0, %(skipped)s, 0, 0, %(seen)s::jsonb
    FROM ok WHERE %(skipped)s > 0
), counts AS (
    UPDATE syncers_syncrun SET pages = pages + 1, fetched = fetched + %(fetched)s,
           listing_total = COALESCE(%(total)s::integer, listing_total)
    WHERE id = %(run)s AND EXISTS (SELECT 1 FROM ok)
)
UPDATE syncers_syncclient SET checkpoint = %(checkpoint)s::jsonb, checkpoint_at = %(now)s
WHERE id = %(client)s AND EXISTS (SELECT 1 FROM ok)
RETURNING (SELECT id FROM joined), ARRAY(SELECT id FROM staged ORDER BY id)
"""


@cache
def _stage_sql(*, cancel: bool, join: bool, batches: int) -> str:
    """_STAGE for a page of `batches` batches (each payload its own parameter: as one text[]
    parameter, quoting every payload's JSON for the array took longer than the page's parse)."""
    rows = [f"(%(size{i})s::integer, %(payload{i})s::text, {i})" for i in range(batches)]
    return _STAGE.format(
        columns=", ".join(BATCH_COLUMNS),
        cancel="(SELECT cancel_requested FROM syncers_syncrun WHERE id = %(run)s)" if cancel else "false",
        joined=_JOIN if join else "SELECT NULL::bigint AS id WHERE false",
        batches=f"VALUES {', '.join(rows)}" if rows else "SELECT NULL::integer, NULL::text, 0 WHERE false",
    )


def _stage_in_one_statement(staging: _Staging, cancel_run: int | None) -> list[int]:
    """PostgreSQL: the page as _STAGE, one round trip where BEGIN, the fence check, the
    batches, the page's bookkeeping and COMMIT took five. The fetching thread shares the
    interpreter lock with the page reader and the look-up, and each round trip waited for that
    lock again (measured: see the commit). Returns the batch ids to send after the commit."""
    run, page, split = staging.run, staging.page, staging.split
    join = staging.joins()
    # Joining records fit one batch (the join's room is at most the batch size): its payload
    # is what joins, and what is inserted should the join be refused.
    batches = staging.batches()
    params: dict[str, Any] = {f"payload{i}": b.payload for i, b in enumerate(batches)}
    params |= {f"size{i}": b.size for i, b in enumerate(batches)}
    params |= {
        "client": run.client_id,
        "run": run.pk,
        "fence": run.fence,
        "page": page.number,
        "join": staging.open_batch.id if join else None,  # type: ignore[union-attr]  # join: open
        "skipped": split.unchanged,
        "seen": None if split.seen_keys is None else compact(split.seen_keys),
        "now": timezone.now(),
        "fetched": len(page.records),
        "total": page.total,
        # As the JSONField stores it: SQL NULL for None, else json.dumps's text.
        "checkpoint": None if page.checkpoint is None else json.dumps(page.checkpoint),
    }
    with server_cursor() as cur, connection.wrap_database_errors:
        cur.execute(_stage_sql(cancel=cancel_run is not None, join=join, batches=len(batches)), params)
        row = cur.fetchone()
    if row is None:  # nothing was written: say why
        if check_fence(run.client_id, run.fence, run_id=cancel_run):
            raise Cancelled
        raise FenceLost(f"client {run.client_id}: page {page.number} not staged (fence or cancel changed)")
    joined_id, ids = row
    return staging.joined() if joined_id is not None else staging.inserted(batches, ids)


def send_open(open_batch: OpenBatch) -> None:
    """Send the open batch, if any (fetching is over, whichever way: a run that failed or was
    cancelled still has its staged records loaded or adopted, as with every staged batch)."""
    if open_batch.id is not None:
        batch_id, open_batch.id = open_batch.id, None
        dispatch_batches([batch_id], open_batch.queue, recorded=True)


def _page_done_elsewhere(run: SyncRun, page: Page, split: Split) -> None:
    """Not PostgreSQL, inside the page's transaction: what commits with its staged batches (as
    _STAGE does on PostgreSQL)."""
    if split.unchanged:
        _record_unchanged(run, page.number, split)
    save_checkpoint(run.client_id, page.checkpoint)
    listed = {} if page.total is None else {"listing_total": page.total}
    SyncRun.objects.filter(pk=run.pk).update(
        pages=F("pages") + 1, fetched=F("fetched") + len(page.records), **listed
    )


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
