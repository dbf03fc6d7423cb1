"""A run's live progress as one dict: the run page, the client page and the run list draw
every element that can change while a run is live (state badge, title, counts, bar, Cancel
button, error) from this dict alone, served as JSON by the run's progress URL and polled, so
no element can show a different truth from its neighbour.

A percentage is shown only where the API reported the listing's size (`listing_total`);
cursor, next-URL and Link listings of unknown length show pages, records and records per
second under an indeterminate bar. A final run shows 100 %, coloured by its outcome."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.formats import date_format

from syncers.models import FailedRecord, SyncBatch, SyncRun
from syncers.wording import counted, outcome

LOAD_COUNTS = ("created", "updated", "unchanged", "failed")


def run_progress(*, run: SyncRun) -> dict[str, Any]:
    """Everything a live page shows of the run, computed from the database in one go."""
    done = Q(state=SyncBatch.State.DONE)
    agg = SyncBatch.objects.filter(run=run).aggregate(
        total=Count("pk"),
        done=Count("pk", filter=done),
        loaded=Sum("size", filter=done),
        **{key: Sum(key, filter=done) for key in LOAD_COUNTS},
    )
    final = run.is_final
    counts = {k: getattr(run, k) if final else (agg[k] or 0) for k in LOAD_COUNTS}
    loaded = agg["loaded"] or 0
    end = run.finished_at or timezone.now()
    elapsed = (end - run.started_at).total_seconds() if run.started_at else 0.0
    rate = round(loaded / elapsed, 1) if elapsed > 0 else 0.0
    percent = _percent(run, loaded)
    failed_records = FailedRecord.objects.filter(run=run).count() if run.failed or counts["failed"] else 0
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "outcome": outcome(run.status),
        "title": str(run),
        "final": final,
        "live": not final,
        "fetch_done": run.fetch_done,
        "pages": run.pages,
        "fetched": run.fetched,
        "listing_total": run.listing_total,
        "batches_total": agg["total"],
        "batches_done": agg["done"],
        "loaded": loaded,
        "percent": percent,
        "progress_text": _progress_text(run, percent, loaded, rate),
        "elapsed": round(elapsed, 1),
        "finished_at": date_format(timezone.localtime(run.finished_at), "DATETIME_FORMAT")
        if run.finished_at
        else "-",
        "took": f"{run.duration:.1f}s" if run.duration is not None else "-",
        "records_per_second": rate,
        "counts": counts,
        "error": run.error,
        "notes": run.notes,
        "continued_from": run.continued_from,
        "failed_records": failed_records,
        "failed_records_text": counted(failed_records, "failed record"),
        "phase": _phase(run),
        "stoppable": not final and not run.cancel_requested,
        "cancel_requested": run.cancel_requested,
        "cancel_requested_by": run.cancel_requested_by,
        "cancel_note": _cancel_note(run),
    }


def _percent(run: SyncRun, loaded: int) -> int | None:
    """100 once final; records loaded of those the API listed while live (never 100 before
    the end); None where the API did not say how many there are."""
    if run.is_final:
        return 100
    if not run.listing_total:
        return None
    return min(loaded * 100 // run.listing_total, 99)


def _progress_text(run: SyncRun, percent: int | None, loaded: int, rate: float) -> str:
    if run.is_final:
        return "100%"
    if run.status == SyncRun.Status.QUEUED:
        return "waiting for a worker"
    pages = f"{run.pages:,} page{'s' if run.pages != 1 else ''}"
    so_far = f"{pages} · {run.fetched:,} records fetched · {loaded:,} stored · {rate:,} records/s"
    if percent is None:
        return so_far
    return f"{percent}% of {run.listing_total:,} records · {so_far}"


def _phase(run: SyncRun) -> str:
    if run.is_final:  # the badge beside it says the outcome; this says when and how long
        when = date_format(timezone.localtime(run.finished_at), "DATETIME_FORMAT") if run.finished_at else ""
        took = f"took {run.duration:.1f}s" if run.duration is not None else ""
        return ", ".join(part for part in (f"finished {when}".strip(), took) if part)
    if run.status == SyncRun.Status.QUEUED:
        return "queued, waiting for a worker"
    if run.cancel_requested:
        return "stopping (cancel requested)"
    if not run.fetch_done:
        return f"fetching (page {run.pages} staged)"
    return "loading the last batches"


def _cancel_note(run: SyncRun) -> str:
    if not run.cancel_requested:
        return ""
    if run.is_final:
        return f"cancel requested by {run.cancel_requested_by}"
    return f"cancel requested by {run.cancel_requested_by}: it stops between pages and batches"
