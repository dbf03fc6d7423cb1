"""Operator verbs shared by the admin, the commands and the tasks."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from .models import SyncClient, SyncRun
from .pipeline import enqueue_run, run_inline, run_sync

log = logging.getLogger(__name__)


def sync_run_request(
    *,
    client: SyncClient,
    trigger: str,
    user: AbstractBaseUser | AnonymousUser | None = None,
    who: str = "",
) -> SyncRun:
    """Ask for a run now: it goes through the same queue and pipeline as a scheduled run."""
    if user is not None and not who:
        who = user.get_username()
    return enqueue_run(client=client, trigger=trigger, who=who)


def sync_run_scheduled(*, client_id: int) -> SyncRun | None:
    """What beat fires: record the run and carry it out in this same task."""
    client = SyncClient.objects.filter(pk=client_id).first()
    if client is None:
        log.warning("schedule fired for client %s, which no longer exists", client_id)
        return None
    run = enqueue_run(client=client, trigger=SyncRun.Trigger.SCHEDULE, who="schedule", send=False)
    return run_sync(run.pk)


def client_pause(*, client: SyncClient, who: str, reason: str, until: datetime | None = None) -> SyncClient:
    """An operator's pause: scheduled runs are recorded as skipped until resumed (or `until`)."""
    if not reason.strip():
        raise ValueError("a pause needs a reason (it is shown to everyone who sees the client)")
    if until is not None and until <= timezone.now():
        raise ValueError("the pause must end in the future")
    SyncClient.objects.filter(pk=client.pk).update(
        state=SyncClient.State.PAUSED,
        pause_reason=reason.strip()[:500],
        paused_by=who[:150],
        paused_at=timezone.now(),
        paused_until=until,
    )
    client.refresh_from_db()
    return client


def client_resume(*, client: SyncClient, who: str, run_now: bool = False) -> SyncRun | None:
    """Back to active from any pause; runs missed while paused are not made up (they were
    recorded as skipped). With `run_now`, one run starts at once."""
    SyncClient.objects.filter(pk=client.pk).update(
        state=SyncClient.State.ACTIVE,
        pause_reason="",
        paused_by="",
        paused_at=None,
        paused_until=None,
        error_level=0,
        consecutive_failures=0,
    )
    client.refresh_from_db()
    log.info("client %s resumed by %s", client, who)
    if run_now:
        return sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who=who)
    return None


def sync_run_now_here(
    *, client: SyncClient, who: str, trigger: str = SyncRun.Trigger.COMMAND, **options: Any
) -> SyncRun:
    """A run carried out in this process, loading included (see pipeline.run_inline)."""
    run = enqueue_run(client=client, trigger=trigger, who=who, send=False)
    return run_inline(run.pk, **options)


def sync_fetch_here(*, client: SyncClient, who: str, **options: Any) -> SyncRun:
    """A run whose fetch happens in this process (progress visible) while workers load."""
    run = enqueue_run(client=client, trigger=SyncRun.Trigger.COMMAND, who=who, send=False)
    return run_sync(run.pk, **options)


def client_checkpoint_reset(*, client: SyncClient) -> None:
    """Forget where the last unfinished run stopped, so the next one reads from the start."""
    if SyncRun.objects.filter(client=client, status=SyncRun.Status.RUNNING).exists():
        raise ValueError(f"{client.name} has a run in progress; wait for it or cancel it first")
    SyncClient.objects.filter(pk=client.pk).update(checkpoint=None, checkpoint_at=timezone.now())
