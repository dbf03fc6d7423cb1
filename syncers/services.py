"""Operator verbs shared by the admin, the commands and the tasks."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from .models import SyncClient, SyncRun
from .pipeline import enqueue_run, run_sync

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
