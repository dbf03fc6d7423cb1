"""The pause state machine stored on the client: what a run's outcome does to the client's
state, error level and pause, and which state changes are worth telling people about.

  active ──transient failure──► backoff(level n, until t) ──t passes──► probe ─ok─► active
    │                              │  └─probe fails / fails again──► backoff(level n+1)
    │                              └─N failures in a row──► paused (until an operator resumes)
    └─401/403──► auth (until an operator resumes)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway.errors import AuthError, TransientError
from syncers.models import SyncClient, SyncRun
from syncers.wording import counted


@dataclass(frozen=True)
class Event:
    """A state change worth a notification."""

    name: str  # first_failure, escalation, auto_pause, auth_pause, recovery, slow_run, failed_records
    level: str  # notice, warning, error
    text: str


def pause_durations(client: SyncClient) -> list[int]:
    return list(client.pause_durations or settings.SYNC_PAUSE_DURATIONS)


def record_run_outcome(*, run: SyncRun) -> list[Event]:
    """Apply a finished run to its client's pause state; return the events it caused."""
    events = _run_events(run)
    if run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL):
        events += _record_success(run.client_id)
    elif run.status == SyncRun.Status.FAILED:
        events = most_severe(
            events
            + record_failure(
                client_id=run.client_id, kind=run.error_kind, error=run.error, retry_after=run.retry_after
            )
        )
    return events


def _run_events(run: SyncRun) -> list[Event]:
    events = []
    limit = run.client.max_duration
    if limit and run.duration and run.duration > limit:
        events.append(
            Event("slow_run", "warning", f"run #{run.pk} took {run.duration:.0f}s (limit {limit}s)")
        )
    if run.failed:
        events.append(
            Event(
                "failed_records",
                "warning",
                f"run #{run.pk} kept {counted(run.failed, 'failed record')} aside",
            )
        )
    return events


def _record_success(client_id: int) -> list[Event]:
    with transaction.atomic():
        client = SyncClient.objects.select_for_update().get(pk=client_id)
        if client.consecutive_failures == 0 and client.state == SyncClient.State.ACTIVE:
            return []
        recovered = client.consecutive_failures > 0 or client.state == SyncClient.State.BACKOFF
        fields: dict[str, Any] = {"error_level": 0, "consecutive_failures": 0}
        if client.state == SyncClient.State.BACKOFF:
            fields |= {
                "state": SyncClient.State.ACTIVE,
                "paused_until": None,
                "pause_reason": "",
                "paused_at": None,
            }
        SyncClient.objects.filter(pk=client_id).update(**fields)
    return [Event("recovery", "notice", "syncing again after failures")] if recovered else []


def record_failure(*, client_id: int, kind: str, error: str, retry_after: float | None = None) -> list[Event]:
    """A failed run or probe. Transient trouble backs off with an escalating pause; an auth
    failure pauses until an operator resumes; too many failures in a row pause for good."""
    now = timezone.now()
    with transaction.atomic():
        client = SyncClient.objects.select_for_update().get(pk=client_id)
        if client.state in (SyncClient.State.PAUSED, SyncClient.State.DISABLED, SyncClient.State.AUTH):
            return []  # an operator's decision (or an earlier enforced pause) stands
        failures = client.consecutive_failures + 1
        fields: dict[str, object] = {"consecutive_failures": failures}
        events = [] if failures > 1 else [Event("first_failure", "warning", f"first failure: {error}")]
        max_failures = client.max_failures or settings.SYNC_MAX_FAILURES
        if kind == AuthError.__name__:
            fields |= _pause_fields(SyncClient.State.AUTH, f"the API refused our credentials: {error}", now)
            events.append(Event("auth_pause", "error", f"paused until an operator resumes it: {error}"))
        elif failures >= max_failures:
            reason = f"auto-paused after {failures} failed runs in a row; last: {error}"
            fields |= _pause_fields(SyncClient.State.PAUSED, reason, now)
            events.append(Event("auto_pause", "error", reason))
        elif kind == TransientError.__name__:
            durations = pause_durations(client)
            level = min(client.error_level + 1, len(durations))
            wait = max(durations[level - 1], retry_after or 0)
            until = now + timedelta(seconds=wait)
            fields |= _pause_fields(SyncClient.State.BACKOFF, f"error level {level}: {error}", now)
            fields |= {"error_level": level, "paused_until": until, "paused_by": "xcoresite"}
            if level > 1:
                events.append(
                    Event(
                        "escalation",
                        "warning",
                        f"error level {level}, paused until {until:%Y-%m-%d %H:%M:%S %Z}",
                    )
                )
        SyncClient.objects.filter(pk=client_id).update(**fields)
    return most_severe(events)


SEVERITY = ("notice", "warning", "error")


def most_severe(events: list[Event]) -> list[Event]:
    """One failure, one notification: a 401 is a first failure and an auth pause, and its
    recipients need to hear only the pause. Of equally severe events the last (the state the
    failure led to) stands."""
    if not events:
        return []
    return [max(reversed(events), key=lambda e: SEVERITY.index(e.level))]


def client_probe_succeeded(client_id: int) -> None:
    """The first request after a temporary pause worked: active again (the level stays until
    the run succeeds, so a run that fails later still escalates)."""
    SyncClient.objects.filter(pk=client_id, state=SyncClient.State.BACKOFF).update(
        state=SyncClient.State.ACTIVE, paused_until=None, pause_reason="", paused_at=None, paused_by=""
    )


def _pause_fields(state: str, reason: str, now: object) -> dict[str, object]:
    return {
        "state": state,
        "pause_reason": reason[:500],
        "paused_at": now,
        "paused_by": "xcoresite",
        "paused_until": None,
    }
