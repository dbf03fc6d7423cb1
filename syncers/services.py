"""Operator verbs shared by the admin, the commands and the tasks."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from syncers.fetch_preview import FetchPreview, client_test_fetch  # noqa: F401  (the edges' entry point)
from syncers.models import FailedRecord, SyncClient, SyncedRecord, SyncRun, SyncSchedule
from syncers.pipeline import enqueue_run, run_inline, run_sync
from syncers.pipeline.push import stage_records
from syncers.registry import get_handler
from syncers.run_context import request_context, schedule_context
from syncers.schedules.fires import schedule_fire_claim
from syncers.wording import counted

log = logging.getLogger(__name__)


class ClientPaused(ValueError):
    """A run was asked for on a paused client (it would only end skipped). Its text says what
    and why; each edge adds its own way out (`--force`, `force: true`, the Resume button)."""

    def __init__(self, client: SyncClient) -> None:
        self.client = client
        self.reason = client_pause_text(client)
        super().__init__(f"client {client.name} is paused ({self.reason})")


def client_pause_text(client: SyncClient) -> str:
    """Why a client's runs are skipped now, in a few words ('' when they are not)."""
    if client.may_run:
        return ""
    if client.connection.is_paused:
        return f"connection {client.connection}: {client.connection.pause_reason or 'no reason given'}"
    state = client.get_state_display()
    if client.state == SyncClient.State.PAUSED and client.paused_by:
        state = f"paused by {client.paused_by}"
    until = f" until {client.paused_until:%Y-%m-%d %H:%M %Z}" if client.paused_until else ""
    return f"{state}{until}: {client.pause_reason or 'no reason given'}"


def sync_run_request(
    *,
    client: SyncClient,
    trigger: str,
    user: AbstractBaseUser | AnonymousUser | None = None,
    who: str = "",
    force: bool = False,
    params: Mapping[str, Any] | None = None,
    full: bool = False,
) -> SyncRun:
    """Ask for a run now: it goes through the same queue and pipeline as a scheduled run.
    ClientPaused when the client is paused, unless `force`: then this one run goes ahead
    (recorded as forced) and the pause stays. `params` and `full` are the extra context a
    schedule can give (see run_context), for this run only; ValidationError when `params` do
    not fit the client's source, before anything is recorded."""
    if user is not None and not who:
        who = user.get_username()
    context = check_run_context(client=client, params=params, full=full)
    forced = _check_may_run(client, force=force, who=who)
    return enqueue_run(client=client, trigger=trigger, who=who, forced=forced, context=context)


def check_run_context(*, client: SyncClient, params: Mapping[str, Any] | None, full: bool) -> dict[str, Any]:
    """The context a run of `client` asked for now records (ValidationError when `params` do
    not fit its source): an edge asking for several runs checks them all before the first."""
    handler = get_handler(client.handler)
    return request_context(handler=handler, config=client.config or {}, params=params, full=full)


def _check_may_run(client: SyncClient, *, force: bool, who: str) -> bool:
    """True when the run must bypass a pause (and says so in the log)."""
    client.refresh_from_db()  # the state a form or command loaded may be old
    if client.may_run:
        return False
    if not force:
        raise ClientPaused(client)
    log.warning("%s forced a run of paused client %s (%s)", who, client, client_pause_text(client))
    return True


def sync_run_scheduled(*, client_id: int, schedule_id: int | None = None) -> SyncRun | None:
    """What beat fires: record the run and carry it out in this same task. None when the
    client is gone, or the schedule's bounds refuse this fire (see syncers.schedules.fires)."""
    client = SyncClient.objects.filter(pk=client_id).first()
    if client is None:
        log.warning("schedule fired for client %s, which no longer exists", client_id)
        return None
    if not schedule_fire_claim(schedule_id=schedule_id):
        return None
    schedule = SyncSchedule.objects.filter(pk=schedule_id).first() if schedule_id else None
    context = (
        schedule_context(schedule_id=schedule.pk, params=schedule.params, full=schedule.full)
        if schedule
        else {}
    )
    run = enqueue_run(
        client=client,
        trigger=SyncRun.Trigger.SCHEDULE,
        who="schedule",
        schedule=schedule,
        send=False,
        context=context,
    )
    return run_sync(run.pk)


def client_pause(*, client: SyncClient, who: str, reason: str, until: datetime | None = None) -> SyncClient:
    """An operator's pause: scheduled runs are recorded as skipped until resumed (or `until`)."""
    if until is not None and until <= timezone.now():
        raise ValueError("the pause must end in the future")
    return _operator_stop(client, SyncClient.State.PAUSED, who=who, reason=reason, until=until)


def client_disable(*, client: SyncClient, who: str, reason: str) -> SyncClient:
    """Switch a client off until an operator resumes it: like a pause, and records pushed to
    its webhook are refused too (a paused client still takes them in)."""
    return _operator_stop(client, SyncClient.State.DISABLED, who=who, reason=reason, until=None)


def _operator_stop(
    client: SyncClient, state: str, *, who: str, reason: str, until: datetime | None
) -> SyncClient:
    if not reason.strip():
        raise ValueError("a pause needs a reason (it is shown to everyone who sees the client)")
    SyncClient.objects.filter(pk=client.pk).update(
        state=state,
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
    if not run_now:
        return None
    try:
        return sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who=who)
    except ClientPaused as exc:  # its connection is still paused
        log.warning("client %s resumed but not run: %s", client, exc)
        return None


def sync_run_now_here(
    *,
    client: SyncClient,
    who: str,
    trigger: str = SyncRun.Trigger.COMMAND,
    force: bool = False,
    params: Mapping[str, Any] | None = None,
    full: bool = False,
    **options: Any,
) -> SyncRun:
    """A run carried out in this process, loading included (see pipeline.run_inline).
    ClientPaused on a paused client unless `force`, and `params`/`full`, as sync_run_request."""
    context = check_run_context(client=client, params=params, full=full)
    forced = _check_may_run(client, force=force, who=who)
    run = enqueue_run(client=client, trigger=trigger, who=who, send=False, forced=forced, context=context)
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


# --- Operator console: cancel, retry failed records, test fetch --------------------------


def run_cancel_request(*, run: SyncRun, who: str) -> SyncRun:
    """Cancel a run. A queued run ends as cancelled at once (the pipeline only claims queued
    runs, so it never starts); a running one is asked to stop: `cancel_requested` is read by
    the pipeline between pages and batches. ValueError when the run has already ended."""
    now = timezone.now()
    asked = {"cancel_requested": True, "cancel_requested_by": who[:150], "cancel_requested_at": now}
    queued = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED)
    if queued.update(status=SyncRun.Status.CANCELLED, finished_at=now, error=f"cancelled by {who}", **asked):
        log.info("run %s cancelled by %s before it started", run.pk, who)
    elif SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING, cancel_requested=False).update(
        **asked
    ):
        log.info("run %s: %s asked it to stop", run.pk, who)
    run.refresh_from_db()
    if run.is_final and not (run.status == SyncRun.Status.CANCELLED and run.cancel_requested):
        raise ValueError(f"run #{run.pk} has already ended ({run.get_status_display()})")
    return run


@dataclass(frozen=True)
class RetryOutcome:
    run: SyncRun | None  # the run that loads the re-staged records; None if none were left
    staged: int
    superseded: int  # already stored in a newer version since they failed: dropped


def failed_records_retry(
    *, client: SyncClient, who: str, record_ids: Sequence[int] | None = None
) -> RetryOutcome:
    """Stage failed records (the given ones, or all of the client's) as batches of a new run,
    loaded by workers like any batch. Each stays listed until it loads (then it leaves the
    list); one that fails again keeps its row with attempts + 1 and the new reason.
    A record stored in a newer version since it failed is dropped, not retried: the retry's
    batch is newer than everything before it and would otherwise overwrite newer data."""
    with transaction.atomic():
        locked = SyncClient.objects.select_for_update().get(pk=client.pk)
        _check_retry_allowed(locked)
        chosen = FailedRecord.objects.filter(client=locked).order_by("pk")
        if record_ids is not None:
            chosen = chosen.filter(pk__in=list(record_ids))
        failed = list(chosen)
        if not failed:
            raise ValueError("there are no failed records to retry")
        newer = _superseded(locked, failed)
        retry = [f for f in failed if f.pk not in newer]
        run = _stage_retry(locked, who, retry) if retry else None
        FailedRecord.objects.filter(pk__in=newer).delete()
    log.info(
        "%s retried %s of %s (%d superseded)", who, counted(len(retry), "failed record"), client, len(newer)
    )
    return RetryOutcome(run=run, staged=len(retry), superseded=len(newer))


def _check_retry_allowed(client: SyncClient) -> None:
    busy = client.runs.filter(status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]).first()
    if busy is not None:
        # A batch staged now would count as newer than the pages that run is still fetching.
        raise ValueError(f"run #{busy.pk} is {busy.status}; retry once it has finished")
    if client.state == SyncClient.State.BACKOFF or client.consecutive_failures:
        # The retry run's success would read as a recovery of the API, which it is not.
        raise ValueError(f"{client.name} is failing ({client.get_state_display()}); fix the source first")


def _superseded(client: SyncClient, failed: list[FailedRecord]) -> set[int]:
    ids = {f.external_id for f in failed if f.external_id}
    stored = dict(
        SyncedRecord.objects.filter(client=client, external_id__in=ids).values_list(
            "external_id", "source_seq"
        )
    )
    return {
        f.pk
        for f in failed
        if f.external_id in stored and (f.batch_id is None or stored[f.external_id] > f.batch_id)
    }


def _stage_retry(client: SyncClient, who: str, failed: list[FailedRecord]) -> SyncRun:
    """A run with nothing to fetch: workers load its batches and finalise it."""
    records = [json.loads(f.payload) for f in failed]
    return stage_records(client=client, records=records, trigger=SyncRun.Trigger.ADMIN, who=who)


def client_schedules_set_enabled(*, client: SyncClient, enabled: bool) -> int:
    """Enable or disable all of a client's schedules; returns how many changed. Each one is
    saved (not bulk-updated), so its beat entry is re-published and PeriodicTask.save() bumps
    beat's change marker: beat picks the change up without a restart."""
    changed = 0
    for schedule in client.schedules.select_related("client", "periodic_task"):
        if schedule.enabled != enabled:
            schedule.enabled = enabled
            schedule.save(update_fields=["enabled"])
            changed += 1
    return changed
