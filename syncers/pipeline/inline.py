"""Run a sync entirely in the calling process: fetch, then load every batch here. For
debugging and for machines without a worker; the pipeline is the same one."""

from __future__ import annotations

from typing import Any

from syncers.models import SyncBatch, SyncRun

from .chunk import SEND_TO_WORKERS
from .log import finalise_if_complete
from .run import load_and_finalise, run_sync


def run_inline(run_id: int, **options: Any) -> SyncRun:
    token = SEND_TO_WORKERS.set(False)
    try:
        run = run_sync(run_id, **options)
        for batch_id in SyncBatch.objects.filter(run_id=run_id, state=SyncBatch.State.PENDING).values_list(
            "pk", flat=True
        ):
            load_and_finalise(batch_id)
        finalise_if_complete(run_id)
    finally:
        SEND_TO_WORKERS.reset(token)
    run.refresh_from_db()
    return run
