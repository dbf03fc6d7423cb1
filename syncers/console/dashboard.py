"""Read-side numbers for the admin dashboard: runs per hour and day by outcome, records
synced, the slowest and the most-failing clients, and the health of beat, workers and broker
(the checks themselves live in syncers.ops.health, shared with `sync_status`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Q, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from syncers.console.charts import Bucket, outcome
from syncers.models import FailedRecord, SyncRun
from syncers.ops.health import Check, check_beat, check_broker, check_workers

_DONE = [SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL]
_RUN_COUNTS = ("fetched", "created", "updated", "unchanged", "failed")


def runs_per_bucket(*, unit: str, count: int, now: datetime | None = None) -> list[Bucket]:
    """The last `count` hours or days (unit "hour" / "day"), oldest first, every bucket present
    even when no run was queued in it; counts per outcome (see wording.outcome)."""
    now = now or timezone.now()
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    trunc = TruncHour if unit == "hour" else TruncDay
    newest = now.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        newest = newest.replace(hour=0)
    starts = [newest - step * i for i in reversed(range(count))]
    rows = (
        SyncRun.objects.filter(queued_at__gte=starts[0])
        .annotate(bucket=trunc("queued_at"))
        .values("bucket", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: dict[datetime, dict[str, int]] = {start: {} for start in starts}
    for row in rows:
        slot = counts.setdefault(row["bucket"], {})
        name = outcome(row["status"])
        slot[name] = slot.get(name, 0) + row["n"]
    return [Bucket(start=start, counts=counts[start]) for start in starts]


def records_synced(*, since: datetime) -> dict[str, int]:
    """Records fetched, created, updated, unchanged and failed by runs queued since then."""
    totals = SyncRun.objects.filter(queued_at__gte=since).aggregate(**{k: Sum(k) for k in _RUN_COUNTS})
    return {k: totals[k] or 0 for k in _RUN_COUNTS}


@dataclass(frozen=True)
class ClientStat:
    client_id: int
    name: str
    runs: int
    average: float = 0.0  # seconds
    longest: float = 0.0
    failed_runs: int = 0
    failed_records: int = 0


def slowest_clients(*, since: datetime, limit: int = 5) -> list[ClientStat]:
    """Clients by average duration of their finished runs since then, slowest first."""
    took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    rows = (
        SyncRun.objects.filter(queued_at__gte=since, status__in=_DONE, started_at__isnull=False)
        .values("client_id", "client__name")
        .annotate(runs=Count("pk"), average=Avg(took), longest=Max(took))
        .order_by("-average")[:limit]
    )
    return [
        ClientStat(
            client_id=r["client_id"],
            name=r["client__name"],
            runs=r["runs"],
            average=_seconds(r["average"]),
            longest=_seconds(r["longest"]),
        )
        for r in rows
    ]


def most_failing_clients(*, since: datetime, limit: int = 5) -> list[ClientStat]:
    """Clients by failed runs, then by records kept aside, since then; clients with neither
    are left out."""
    failed = Q(status=SyncRun.Status.FAILED)
    runs = {
        r["client_id"]: r
        for r in SyncRun.objects.filter(queued_at__gte=since)
        .values("client_id", "client__name")
        .annotate(runs=Count("pk"), failed_runs=Count("pk", filter=failed))
        .order_by()
    }
    records = dict(
        FailedRecord.objects.filter(created_at__gte=since)
        .values("client_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("client_id", "n")
    )
    stats = [
        ClientStat(
            client_id=cid,
            name=r["client__name"],
            runs=r["runs"],
            failed_runs=r["failed_runs"],
            failed_records=records.get(cid, 0),
        )
        for cid, r in runs.items()
        if r["failed_runs"] or records.get(cid)
    ]
    stats.sort(key=lambda s: (-s.failed_runs, -s.failed_records, s.name))
    return stats[:limit]


def _seconds(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) / 1_000_000  # some backends hand back microseconds


HEALTH_CHECKS = ("beat", "workers", "broker")  # the names health_checks() reports, in order


def health_checks() -> list[Check]:
    """Beat heartbeat, workers answering a ping (about a second), broker reachable."""
    return [check_beat(), check_workers(timeout=1.0), check_broker()]


def beat_warning() -> str:
    """A sentence for the banner on every admin page when beat looks stopped; empty if fine."""
    beat = check_beat()
    if beat.ok:
        return ""
    return (
        f"Beat looks stopped: {beat.detail}. Schedules are not firing and lost messages are "
        "not re-sent until it runs again."
    )
