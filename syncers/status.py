"""What `sync_status` reports about each client, as plain data (printed or as JSON)."""

from __future__ import annotations

from typing import Any

from .health import next_fire
from .models import SyncClient, SyncRun


def needs_operator(client: SyncClient) -> list[str]:
    """Why this client waits for an operator (empty: it does not). Only stops with no end
    count: an auth pause, an operator's pause without an end and the auto-pause after N
    failures, and deletions held by the mass-deletion guard. A pause with an end (`--for 2h`),
    a backoff and a disabled client (switched off on purpose) end by themselves or are the
    operator's own decision."""
    reasons = []
    if held := _deletions_waiting(client):
        reasons.append(f"{held['count']} deletion(s) waiting for approval: {held['reason']}")
    if client.state == SyncClient.State.AUTH:
        reasons.append(f"auth pause: {client.pause_reason}")
    elif client.state == SyncClient.State.PAUSED and client.paused_until is None:
        who = f" by {client.paused_by}" if client.paused_by else ""
        reasons.append(f"paused{who} with no end: {client.pause_reason}")
    return reasons


def client_status(client: SyncClient) -> dict[str, Any]:
    last = client.runs.order_by("-pk").first()
    schedules = [
        {
            "schedule": s.describe(),
            "enabled": s.enabled,
            "next": next_fire(s.periodic_task) if s.periodic_task else None,
        }
        for s in client.schedules.select_related(
            "periodic_task__crontab", "periodic_task__clocked", "periodic_task__interval"
        )
    ]
    return {
        "client": client.name,
        "state": client.state,
        "pause_reason": client.pause_reason,
        "paused_by": client.paused_by,
        "paused_until": client.paused_until.isoformat() if client.paused_until else None,
        "error_level": client.error_level,
        "failures_in_a_row": client.consecutive_failures,
        "needs_operator": needs_operator(client),
        "schedules": schedules,
        "last_run": _run(last) if last else None,
        "deletions_waiting": _deletions_waiting(client),
    }


def _deletions_waiting(client: SyncClient) -> dict[str, Any] | None:
    from .destinations.deletions import deletions_waiting

    held = deletions_waiting(client) if client.destination else None
    if held is None:
        return None
    return {"count": len(held.keys), "reason": held.reason, "run": held.run_id, "action": held.action}


def _run(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "queued_at": run.queued_at.isoformat(),
        "duration_s": run.duration,
        **run.counts(),
        "deleted": run.deleted,
        "error": run.error,
    }
