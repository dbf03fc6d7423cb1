"""Read-side queries shared by the admin and the commands."""

from __future__ import annotations

import json
import time
from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from syncers.models import FailedRecord, SyncClient, SyncRun, SyncSchedule
from syncers.ops.progress import run_progress  # noqa: F401  (the admin reads progress through selectors)
from syncers.schedules.cron_preview import schedule_bounds_left, schedule_next_fire
from syncers.wording import older_copies_text


def client_get(*, ref: str) -> SyncClient:
    """A client by name or numeric id; SyncClient.DoesNotExist says which names exist."""
    qs = SyncClient.objects.select_related("connection")
    client = qs.filter(name=ref).first() or (qs.filter(pk=int(ref)).first() if ref.isdigit() else None)
    if client is None:
        known = ", ".join(SyncClient.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise SyncClient.DoesNotExist(f"unknown sync client '{ref}' (known: {known})")
    return client


def run_wait_final(*, run_id: int, timeout: float, poll: float = 0.25) -> SyncRun:
    """Poll until the run has a final status, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        run = SyncRun.objects.get(pk=run_id)
        if run.is_final:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run #{run_id} still {run.status} after {timeout:.0f}s")
        time.sleep(poll)


def run_summary(run: SyncRun) -> str:
    counts = " ".join(f"{k}={v}" for k, v in run.counts().items())
    if run.older:
        counts += f" ({older_copies_text(run.older)})"
    took = f" in {run.duration:.1f}s" if run.duration is not None else ""
    error = f" error: {run.error}" if run.error else ""
    notes = f" notes: {run.notes}" if run.notes else ""
    return f"run #{run.pk} of {run.client.name}: {run.status}{took} {counts}{error}{notes}"


# --- Operator console -------------------------------------------------------------------

RECENT_RUNS = 20  # runs per client in the list's sparkline
RUN_LIST_FIELDS = ("pk", "client", "status", "queued_at", "started_at", "finished_at", "fetched", "error")


def client_list_queryset(qs: QuerySet[SyncClient]) -> QuerySet[SyncClient]:
    """The client list in a fixed number of queries however many clients it shows: the
    current run in the main query, recent runs and schedules in one prefetch query each."""
    active = SyncRun.objects.filter(
        client=OuterRef("pk"), status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]
    ).order_by("-pk")
    recent = SyncRun.objects.order_by("-pk").only(*RUN_LIST_FIELDS)[:RECENT_RUNS]
    return (
        qs.select_related("connection")
        .annotate(
            active_run_id=Subquery(active.values("pk")[:1]),
            active_run_status=Subquery(active.values("status")[:1]),
        )
        .prefetch_related(
            Prefetch("runs", queryset=recent, to_attr="recent_runs"),
            Prefetch(
                "schedules",
                queryset=SyncSchedule.objects.select_related("periodic_task__interval").order_by("pk"),
                to_attr="schedule_list",
            ),
        )
    )


def client_active_run(*, client: SyncClient) -> SyncRun | None:
    """The newest queued or running run of the client, if any."""
    return (
        SyncRun.objects.filter(client=client, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING])
        .order_by("-pk")
        .first()
    )


def client_failed_count(*, client: SyncClient) -> int:
    return FailedRecord.objects.filter(client=client).count()


# --- Operator commands --------------------------------------------------------------------


def client_failed_records(*, client: SyncClient, limit: int) -> list[dict[str, Any]]:
    """The client's failed records, newest first, as plain data (payload parsed when it is JSON)."""
    rows = FailedRecord.objects.filter(client=client).order_by("-created_at", "-pk")[:limit]
    return [
        {
            "id": f.pk,
            "external_id": f.external_id,
            "reason": f.reason,
            "attempts": f.attempts,
            "failed_at": f.created_at.isoformat(),
            "run": f.run_id,
            "payload": _json_or_text(f.payload),
        }
        for f in rows
    ]


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def client_schedules(*, client: SyncClient) -> list[dict[str, Any]]:
    """The client's schedules with their next fire time, computed as the client list shows it."""
    now = timezone.now()
    rows = []
    for s in client.schedules.select_related("periodic_task__interval").order_by("pk"):
        when = schedule_next_fire(s, now=now)
        task = s.periodic_task
        rows.append(
            {
                "id": s.pk,
                "kind": s.kind,
                "schedule": s.describe(),
                "enabled": s.enabled,
                "start": s.start.isoformat() if s.start else None,
                "end": s.end.isoformat() if s.end else None,
                "max_runs": s.max_runs,
                "runs_left": s.runs_left,
                "bounds": schedule_bounds_left(s, now=now),
                "params": s.params,
                "full": s.full,
                "next": when.isoformat() if when else None,
                "beat_entry": task.name if task else None,
                "last_fired": task.last_run_at.isoformat() if task and task.last_run_at else None,
            }
        )
    return rows
