"""Celery tasks: thin, ids only, names frozen (schedules store the name as a string)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_ready
from django import db

from syncers import pipeline, services
from syncers.ops import health
from syncers.schedules import static_jobs

log = logging.getLogger(__name__)


@shared_task(name="syncers.run_sync")
def run_sync(run_id: int) -> str:
    return pipeline.run_sync(run_id).status


@shared_task(name="syncers.scheduled_sync")
def scheduled_sync(client_id: int, schedule_id: int | None = None) -> str:
    # schedule_id is absent from messages sent before schedules carried it.
    run = services.sync_run_scheduled(client_id=client_id, schedule_id=schedule_id)
    return run.status if run else "not run (no such client, or the schedule's bounds refused it)"


@shared_task(name="syncers.static_job")
def static_job(job: str, func: str, kwargs: dict[str, Any] | None = None, once_at: str | None = None) -> Any:
    return static_jobs.static_job_run(job=job, func=func, kwargs=kwargs, once_at=once_at)


@shared_task(name="syncers.load_batch")
def load_batch(batch_id: int) -> None:
    pipeline.load_and_finalise(batch_id)


@shared_task(name="syncers.reconcile")
def reconcile(from_beat: bool = True) -> dict[str, int]:
    if from_beat:
        health.record_beat_heartbeat()
    return vars(pipeline.reconcile())


@task_prerun.connect(dispatch_uid="syncers.fresh_connections")
@task_postrun.connect(dispatch_uid="syncers.forget_queries")
def _between_tasks(**kwargs: Any) -> None:
    # What Django does around each request: drop connections that are broken or past
    # CONN_MAX_AGE (connections are otherwise kept across tasks, see CELERY_DB_REUSE_MAX).
    db.close_old_connections()
    # With DEBUG on (make run), Django keeps every statement; a worker would grow without bound.
    db.reset_queries()


@worker_ready.connect(dispatch_uid="syncers.reconcile_on_start")
def _reconcile_on_start(**kwargs: Any) -> None:
    # Messages a dead worker had prefetched are gone from the broker; do not wait for beat.
    reconcile.delay(from_beat=False)
