"""The reconciler: the broker may lose messages (a worker killed with prefetched tasks), so
everything needed to finish is in the database and this pass, run by beat and at worker
start, re-sends what is overdue. Sending twice is harmless: runs are claimed once, batches
are locked and marked done in the loading transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from syncers.models import SyncBatch, SyncClient, SyncRun

from .chunk import dispatch_batches
from .enqueue import enqueue_run, send_run
from .lease import client_lease_name, leases
from .log import finalise_if_complete, finish_early

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    runs_resent: int = 0
    runs_abandoned: int = 0
    runs_finalised: int = 0
    recovery_runs: int = 0
    clients_resumed: int = 0
    probes: int = 0
    batches_resent: int = 0


def reconcile() -> ReconcileReport:
    report = ReconcileReport()
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.SYNC_REDISPATCH_AFTER)
    for run in SyncRun.objects.filter(status=SyncRun.Status.QUEUED, queued_at__lt=overdue).select_related(
        "client"
    ):
        send_run(run.pk, run.client.queue)
        report.runs_resent += 1
    _check_running(report, now)
    _resume_due_clients(report, now)
    by_queue: dict[str, list[int]] = {}
    for batch_id, queue in _overdue_batches(now):
        by_queue.setdefault(queue, []).append(batch_id)
    for queue, ids in by_queue.items():
        dispatch_batches(ids, queue)
        report.batches_resent += len(ids)
    if any(vars(report).values()):
        log.info("reconcile: %s", report)
    return report


def _resume_due_clients(report: ReconcileReport, now: datetime) -> None:
    """Pauses that have run out: an operator's pause ends; a temporary pause starts a probe
    run (its first request decides), once, however many scheduled runs were skipped."""
    report.clients_resumed += SyncClient.objects.filter(
        state=SyncClient.State.PAUSED, paused_until__lte=now
    ).update(state=SyncClient.State.ACTIVE, paused_until=None, pause_reason="", paused_by="", paused_at=None)
    busy = SyncRun.objects.filter(status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]).values(
        "client_id"
    )
    due = (
        SyncClient.objects.filter(state=SyncClient.State.BACKOFF, paused_until__lte=now)
        .exclude(pk__in=busy)
        .exclude(connection__paused=True)  # its connection's pause comes first
    )
    for client in due:
        enqueue_run(client=client, trigger=SyncRun.Trigger.RECOVERY, who="probe after temporary pause")
        report.probes += 1


def _overdue_batches(now: datetime) -> list[tuple[int, str]]:
    """Pending batches not loaded in time. The wait doubles with each re-send (up to 32x), so
    a long but healthy backlog is not flooded with duplicates."""
    after = settings.SYNC_REDISPATCH_AFTER
    candidates = (
        SyncBatch.objects.filter(
            Q(dispatched_at__lt=now - timedelta(seconds=after)) | Q(dispatched_at__isnull=True),
            Q(fence=F("client__fence")) | Q(fence=SyncBatch.UNFENCED),
            state=SyncBatch.State.PENDING,
        )
        .exclude(run__status=SyncRun.Status.CANCELLED)
        .values_list("pk", "client__queue", "attempts", "dispatched_at")
    )
    return [
        (pk, queue)
        for pk, queue, attempts, sent in candidates
        if sent is None or now - sent > timedelta(seconds=after * min(2 ** max(attempts - 1, 0), 32))
    ]


def _carried(context: dict[str, Any]) -> dict[str, Any]:
    """What a recovery run keeps of the abandoned run's extra context: its query parameters,
    so the pages after the checkpoint are asked for the same way. Not `full`: a full run
    ignores the checkpoint, and the recovery exists to resume from it (so it deletes nothing;
    the next complete run does)."""
    return {"params": dict(context["params"])} if context.get("params") else {}


def _check_running(report: ReconcileReport, now: datetime) -> None:
    lease_expired = now - timedelta(seconds=settings.SYNC_LEASE_TTL)
    for run in SyncRun.objects.filter(status=SyncRun.Status.RUNNING).select_related("client"):
        holder = leases().holder(client_lease_name(run.client_id))
        if holder and holder == run.lease_token:
            if finalise_if_complete(run.pk):
                report.runs_finalised += 1
            continue
        if run.started_at and run.started_at > lease_expired:
            continue  # just claimed; it may not have taken the lease yet
        if run.fetch_done:
            # Only loading is left: overdue batches are re-sent below and finalise it.
            if finalise_if_complete(run.pk):
                report.runs_finalised += 1
            continue
        if not finish_early(
            run,
            SyncRun.Status.ABANDONED,
            "abandoned: its process stopped holding the lease (crash, kill or long pause)",
        ):
            continue
        report.runs_abandoned += 1
        if run.client.may_run:
            # A fresh run resumes from the committed checkpoint and adopts unloaded batches.
            enqueue_run(
                client=run.client,
                trigger=SyncRun.Trigger.RECOVERY,
                who=f"reconciler (run #{run.pk})",
                context=_carried(run.context),
            )
            report.recovery_runs += 1
