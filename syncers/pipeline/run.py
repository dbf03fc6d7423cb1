"""The pipeline's entry points: run_sync (lease → fetch → stage/chunk) and load_and_finalise
(load → log). Tasks, commands and tests call these; nothing else drives a run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from gateway.errors import GatewayError
from gateway.session import session_for
from syncers.alerts.pause import client_probe_succeeded
from syncers.handlers.pagination import DONE_KEY
from syncers.logcontext import log_context, set_log_field
from syncers.models import SyncBatch, SyncClient, SyncRun
from syncers.registry import FetchContext, Page, get_handler
from syncers.run_context import config_with_params
from syncers.wording import counted

from .chunk import dispatch_batches
from .fence import FenceLost, take_fence
from .fetch import prefetched
from .lease import Heartbeat, client_lease_name, leases, new_token
from .load import load_batch
from .log import close_with_counts, finalise_if_complete, finish_early, keep_lease_alive, recount_closed
from .stage import Cancelled, OpenBatch, finish_fetch, send_open, stage_page
from .unchanged import UnchangedFilter

log = logging.getLogger(__name__)


PageHook = Callable[[SyncRun, Page], None]


class LeaseLost(Exception):
    """The heartbeat could not keep the lease; stop before the fence has to refuse us."""


def run_sync(run_id: int, *, max_pages: int | None = None, on_page: PageHook | None = None) -> SyncRun:
    """Carry a queued run to the end of fetching; loading finishes it asynchronously.
    `max_pages` stops early with the checkpoint kept (the next run continues there);
    `on_page` is called after each staged page (progress display)."""
    with log_context(run=run_id):
        return _run_sync(run_id, max_pages=max_pages, on_page=on_page)


def _run_sync(run_id: int, *, max_pages: int | None, on_page: PageHook | None) -> SyncRun:
    if not SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.RUNNING, started_at=timezone.now()
    ):
        log.info("run %s is not queued any more (duplicate delivery); nothing to do", run_id)
        return SyncRun.objects.get(pk=run_id)
    run = SyncRun.objects.select_related("client__connection").get(pk=run_id)
    client = run.client
    set_log_field(client=client.name)
    if not (client.may_run or run.forced):
        finish_early(run, SyncRun.Status.SKIPPED_PAUSED, _paused_text(client))
        return _reload(run)
    token = new_token()
    lease_name = client_lease_name(client.pk)
    if not leases().acquire(lease_name, token, settings.SYNC_LEASE_TTL):
        finish_early(
            run,
            SyncRun.Status.SKIPPED_LOCKED,
            "another run of this client holds the lease",
        )
        return _reload(run)
    if not _start(run, token):
        leases().release(lease_name, token)
        return _reload(run)
    with Heartbeat(lease_name, token, settings.SYNC_LEASE_TTL) as heartbeat:
        _fetch(run, heartbeat, max_pages=max_pages, on_page=on_page)
    finalise_if_complete(run.pk)
    return _reload(run)


def _start(run: SyncRun, token: str) -> bool:
    """Take a fence, supersede dead runs and adopt their unloaded batches, in one transaction."""
    with transaction.atomic():
        client = (
            SyncClient.objects.select_for_update(of=("self",))
            .select_related("connection")
            .get(pk=run.client_id)
        )
        if not (client.may_run or run.forced):  # paused while this run waited for the lease
            finish_early(run, SyncRun.Status.SKIPPED_PAUSED, _paused_text(client))
            return False
        run.fence = take_fence(client.pk)
        run.lease_token = token
        run.save(update_fields=["fence", "lease_token"])
        # Only runs that held a lease before us; merely claimed ones end as skipped-locked.
        superseded = SyncRun.objects.filter(client=client, status=SyncRun.Status.RUNNING, fence__lt=run.fence)
        for dead in superseded:  # each keeps the counts of the batches it loaded
            finish_early(
                dead, SyncRun.Status.ABANDONED, f"superseded by run #{run.pk}: its lease had expired"
            )
        pending = SyncBatch.objects.filter(client=client, state=SyncBatch.State.PENDING).exclude(
            fence=SyncBatch.UNFENCED  # pushed records belong to their webhook run
        )
        adopted = list(pending.values_list("pk", flat=True))
        run.continued_from = continued_text(client=client, run=run, pending=pending)
        pending.update(run=run, fence=run.fence)
        run.save(update_fields=["continued_from"])
        transaction.on_commit(partial(dispatch_batches, adopted, client.queue))
    log.info("started with fence %s", run.fence)
    if adopted:
        log.info("run %s adopted %d unloaded batches of earlier runs", run.pk, len(adopted))
    return True


def continued_text(*, client: SyncClient, run: SyncRun, pending: QuerySet[SyncBatch]) -> str:
    """What this run takes over from earlier ones, for its page: "continued from page 33 of
    run #5; adopted 4 unloaded batches of run #5". Empty for a run that starts afresh."""
    parts = []
    checkpoint = client.checkpoint or {}
    at = checkpoint.get("page") or checkpoint.get("next_page")
    if at and not checkpoint.get(DONE_KEY):
        earlier = (
            SyncRun.objects.filter(client=client, pk__lt=run.pk, pages__gt=0)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
        parts.append(f"continued from page {at}" + (f" of run #{earlier}" if earlier else ""))
    owners = sorted(set(pending.values_list("run_id", flat=True)))
    if owners:
        count = pending.count()
        runs = ", ".join(f"#{pk}" for pk in owners)
        parts.append(
            f"adopted {count} unloaded batch{'es' if count != 1 else ''} of run{'s' if len(owners) > 1 else ''} {runs}"
        )
    return "; ".join(parts)


def _fetch(run: SyncRun, heartbeat: Heartbeat, *, max_pages: int | None, on_page: PageHook | None) -> None:
    client = run.client
    staged = 0
    context = run.context or {}
    full = bool(context.get("full"))  # a schedule's forced complete listing: from the start
    checkpoint = None if full else client.checkpoint
    last: dict[str, Any] | None = checkpoint
    started_from_start = not checkpoint
    handler = get_handler(client.handler)
    open_batch = OpenBatch(queue=client.queue)
    try:
        config = config_with_params(handler, client.config or {}, context.get("params") or {})
        with session_for(client.connection) as session:
            ctx = FetchContext(
                config=config, session=session, checkpoint=checkpoint, extras={"context": context}
            )
            unchanged = UnchangedFilter(client=client, run_id=run.pk)
            # A re-sync looks pages up in a second thread: one page fewer read ahead here.
            read = prefetched(handler.pages(ctx), limit=max_pages, depth=1 if unchanged.enabled else 2)
            for page, looked_up in unchanged.ahead(read):
                if heartbeat.lost:
                    raise LeaseLost("lease lost while fetching")
                set_log_field(page=page.number)
                if client.needs_probe:  # the first page answered: the API is back
                    client_probe_succeeded(client.pk)
                    client.state = SyncClient.State.ACTIVE
                stage_page(
                    run=run,
                    page=page,
                    batch_size=client.batch_size,
                    queue=client.queue,
                    unchanged=unchanged,
                    looked_up=looked_up,
                    open_batch=open_batch,
                    stop_if_cancelled=True,  # Cancelled: this page is not staged
                )
                staged += 1
                last = page.checkpoint
                if page.note:
                    log.warning("run %s: %s", run.pk, page.note)
                    SyncRun.objects.filter(pk=run.pk).update(notes=page.note)
                if on_page is not None:
                    on_page(run, page)
                if max_pages is not None and staged >= max_pages and not page.is_last:
                    finish_fetch(run=run, keep_checkpoint=True)
                    return
        # Only a listing read from its start, in full mode (or forced full), shows which keys are gone.
        complete = started_from_start and (full or not config.get("incremental"))
        finish_fetch(
            run=run, next_checkpoint=handler.checkpoint_after_listing(last, config), complete=complete
        )
        log.info("fetched %s; loading continues in batches", counted(staged, "page"))
    except Cancelled:
        _cancel(run)
    except (FenceLost, LeaseLost) as exc:
        log.warning("run %s stopped: %s", run.pk, exc)
        finish_early(run, SyncRun.Status.ABANDONED, f"stopped: {exc}")
    except GatewayError as exc:
        _fail_fetch(run, str(exc), type(exc).__name__, getattr(exc, "retry_after", None))
    except Exception as exc:
        log.exception("run %s: fetch crashed", run.pk)
        _fail_fetch(run, f"{type(exc).__name__}: {exc}", "internal")
    finally:
        send_open(open_batch)  # committed with its last page; a crash before this: the reconciler


def _cancel(run: SyncRun) -> None:
    """Stop here: staged pages stay staged and the checkpoint stays after the last of them,
    so the next run adopts the unloaded batches and continues; the lease is freed now."""
    try:
        finish_fetch(run=run, keep_checkpoint=True)
    except FenceLost:
        return
    _close_cancelled(run)
    log.info("cancelled between pages")


def _close_cancelled(run: SyncRun) -> None:
    who, token = SyncRun.objects.values_list("cancel_requested_by", "lease_token").get(pk=run.pk)
    close_with_counts(run.pk, SyncRun.Status.CANCELLED, f"cancelled by {who or 'an operator'}")
    if token:
        leases().release(client_lease_name(run.client_id), token)


def _fail_fetch(run: SyncRun, error: str, kind: str, retry_after: float | None = None) -> None:
    try:
        finish_fetch(
            run=run,
            error=f"{kind}: {error}" if kind != "internal" else error,
            kind=kind,
            retry_after=retry_after,
        )
    except FenceLost as exc:
        finish_early(run, SyncRun.Status.ABANDONED, f"stopped: {exc}")


def load_and_finalise(batch_id: int) -> SyncBatch | None:
    """Load one batch, then let its run finish if that was the last one."""
    with log_context(batch=batch_id):
        return _load_and_finalise(batch_id)


def _load_and_finalise(batch_id: int) -> SyncBatch | None:
    owner = SyncRun.objects.filter(batches=batch_id).only("status", "fetch_done", "cancel_requested").first()
    if owner is not None and owner.cancel_requested and owner.status == SyncRun.Status.RUNNING:
        if owner.fetch_done:  # cancelled while loading: stop here; the next run adopts the rest
            _close_cancelled(owner)
        return None
    try:
        batch = load_batch(batch_id)
    except FenceLost as exc:
        log.warning("batch %s refused: %s", batch_id, exc)
        return None
    if batch is not None:
        run = SyncRun.objects.only("status", "fetch_done", "lease_token", "client_id").get(pk=batch.run_id)
        if run.status != SyncRun.Status.RUNNING:  # closed while this batch loaded
            recount_closed(run.pk)
        elif run.fetch_done:  # before that, the fetcher finalises and its heartbeat holds the lease
            keep_lease_alive(run)
            finalise_if_complete(run.pk)
    return batch


def _paused_text(client: SyncClient) -> str:
    if client.connection.is_paused:
        return (
            f"connection {client.connection} is paused: {client.connection.pause_reason or 'no reason given'}"
        )
    if client.state == SyncClient.State.DISABLED:
        return "client is disabled"
    by = f" by {client.paused_by}" if client.paused_by else ""
    return f"client is paused{by}: {client.pause_reason or 'no reason given'}"


def _reload(run: SyncRun) -> SyncRun:
    run.refresh_from_db()
    return run
