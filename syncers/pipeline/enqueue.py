"""Asking for a run: a queued SyncRun row, then (after commit) a message with its id."""

from __future__ import annotations

from functools import partial

from celery import current_app
from django.db import transaction

from syncers.models import SyncClient, SyncRun, SyncSchedule

RUN_SYNC_TASK = "syncers.run_sync"


def send_run(run_id: int, queue: str) -> None:
    current_app.send_task(RUN_SYNC_TASK, args=[run_id], queue=queue)


def enqueue_run(
    *,
    client: SyncClient,
    trigger: str,
    who: str = "",
    schedule: SyncSchedule | None = None,
    send: bool = True,
    forced: bool = False,
    context: dict[str, object] | None = None,
) -> SyncRun:
    """Record a queued run; with `send`, dispatch it once the row is committed. A `forced` run
    goes ahead although the client is paused (the operator said so)."""
    run = SyncRun.objects.create(
        client=client,
        trigger=trigger,
        triggered_by=who[:150],
        schedule=schedule,
        forced=forced,
        context=context or {},
    )
    if send:
        transaction.on_commit(partial(send_run, run.pk, client.queue))
    return run
