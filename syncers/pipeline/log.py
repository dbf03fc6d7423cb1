"""Log: finalise a run once fetching is over and no batch is pending. Any process may call
this (the fetcher, each batch loader, the reconciler); the row lock makes it happen once."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from syncers.alerts.notify import notify
from syncers.alerts.pause import Event, record_run_outcome
from syncers.destinations.deletions import deletions_after_run
from syncers.models import SyncBatch, SyncRun
from syncers.wording import deletions_waiting_text, older_copies_text

from .fence import FenceLost, check_fence
from .lease import client_lease_name, leases

log = logging.getLogger(__name__)
COUNTS = ("created", "updated", "unchanged", "failed", "older")


def finalise_if_complete(run_id: int) -> SyncRun | None:
    """Give a running run its final status and counts if all its work is done."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().filter(pk=run_id, status=SyncRun.Status.RUNNING).first()
        if run is None or not run.fetch_done:
            return None
        if run.batches.filter(state=SyncBatch.State.PENDING).exists():
            return None
        totals = run.batches.aggregate(**{k: Sum(k) for k in COUNTS})
        for key in COUNTS:
            setattr(run, key, totals[key] or 0)
        if run.error:
            run.status = SyncRun.Status.FAILED
        elif run.failed:
            run.status = SyncRun.Status.PARTIAL
        else:
            run.status = SyncRun.Status.SUCCEEDED
        held = _deletions(run)
        run.finished_at = timezone.now()
        run.save(update_fields=[*COUNTS, "status", "finished_at", "deleted", "error"])
    if run.older:
        log.info("run %s: %s", run.pk, older_copies_text(run.older))
    if run.lease_token:
        leases().release(client_lease_name(run.client_id), run.lease_token)
    events = record_run_outcome(run=run)
    if held is not None:
        events.append(Event("deletions_waiting", "warning", f"run #{run.pk}: {held}"))
    if events:
        notify(client=run.client, run=run, events=events)
    return run


def close_with_counts(run_id: int, status: str, error: str) -> None:
    """End a running run early (cancelled) with the counts of the batches it did load."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().filter(pk=run_id, status=SyncRun.Status.RUNNING).first()
        if run is None:
            return
        for key, value in loaded_counts(run_id).items():
            setattr(run, key, value)
        run.status, run.error, run.finished_at = status, error, timezone.now()
        run.save(update_fields=[*COUNTS, "status", "error", "finished_at"])


def finish_early(run: SyncRun, status: str, error: str = "") -> bool:
    """Close a run from a non-final status without finalising it (skipped, stopped,
    abandoned), with the counts of the batches it did load."""
    closed = bool(
        SyncRun.objects.filter(pk=run.pk, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]).update(
            status=status, error=error, finished_at=timezone.now(), **loaded_counts(run.pk)
        )
    )
    if closed:
        recount_closed(run.pk)  # a batch that finished loading meanwhile
    return closed


def loaded_counts(run_id: int) -> dict[str, int]:
    """A run's counts: the sums over its loaded batches (adopted batches belong to the run
    that adopted them, so each batch counts once, to the run that loaded it)."""
    totals = SyncBatch.objects.filter(run_id=run_id, state=SyncBatch.State.DONE).aggregate(
        **{k: Sum(k) for k in COUNTS}
    )
    return {k: totals[k] or 0 for k in COUNTS}


def recount_closed(run_id: int) -> None:
    """Bring a closed run's counts up to date: one of its batches may load after the run was
    closed (abandoned or superseded while a worker still held the batch)."""
    with transaction.atomic():
        runs = SyncRun.objects.select_for_update().filter(pk=run_id).exclude(status=SyncRun.Status.RUNNING)
        run = runs.exclude(status=SyncRun.Status.QUEUED).first()
        if run is None:
            return
        counts = loaded_counts(run_id)
        if any(getattr(run, k) != v for k, v in counts.items()):
            SyncRun.objects.filter(pk=run_id).update(**counts)


def keep_lease_alive(run: SyncRun) -> None:
    """Once fetching is over, finished batches keep the run's lease alive until the last one
    finalises it. Not before: while fetching, only the fetcher's heartbeat may, or a dead
    fetcher's batches would keep its lease forever."""
    if run.lease_token and run.status == SyncRun.Status.RUNNING and run.fetch_done:
        leases().renew(client_lease_name(run.client_id), run.lease_token, settings.SYNC_LEASE_TTL)


def _deletions(run: SyncRun) -> str | None:
    """A complete run of a destination client deletes what its listing no longer served, while
    its fence is current; the guard holds mass deletions back (see destinations.deletions).
    Returns the text of held deletions, which end the run partial."""
    if not run.listing_complete or run.status == SyncRun.Status.FAILED or not run.client.destination:
        return None
    try:
        check_fence(run.client_id, run.fence)
    except FenceLost:  # a newer run started: this one may no longer decide what is gone
        return None
    outcome = deletions_after_run(run)
    run.deleted = outcome.deleted
    if outcome.refused:  # the rows the model's delete rules keep: the run says which and why
        run.status, run.error = SyncRun.Status.PARTIAL, outcome.refused
    if outcome.held is None:
        return None
    held = outcome.held
    text = (
        f"{held.reason}: {deletions_waiting_text(len(held.keys))} (sync_deletions {run.client.name} --list)"
    )
    run.status, run.error = SyncRun.Status.PARTIAL, text
    return text
