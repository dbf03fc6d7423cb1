"""What `sync_status` (and the API's /api/health/) reports: the system checks and each
client's state, as plain data (printed or as JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncers.models import SyncClient, SyncRun
from syncers.ops.health import next_fire, system_checks
from syncers.plugins.status import plugins_status, worker_service_state
from syncers.wording import counted, deletions_waiting_text


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    problems: list[str]  # why not healthy, one line each (empty when healthy)
    checks: list[Any]  # syncers.ops.health checks, in order: the database first
    clients: list[dict[str, Any]]  # client_status of each client reported
    plugins: list[dict[str, Any]]
    plugin_tasks: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The document `sync_status --json` prints."""
        return {
            "healthy": self.healthy,
            "checks": [c.as_dict() for c in self.checks],
            "clients": self.clients,
            "plugins": self.plugins,
            "plugin_tasks": self.plugin_tasks,
        }


def health_report(*, clients: list[SyncClient] | None = None) -> HealthReport:
    """Beat, workers, broker, Redis, then each client (all, or these). Unhealthy when a check
    fails, a client waits for an operator (needs_operator) or plugin tasks wait unsent.
    Without a database only the checks are reported."""
    checks = system_checks()
    if not checks[0].ok:
        return HealthReport(False, [checks[0].detail], checks, [], [], {})
    targets = list(SyncClient.objects.order_by("name")) if clients is None else clients
    statuses = [client_status(c) for c in targets]
    worker_service = worker_service_state()
    waiting = [(s["client"], s["needs_operator"]) for s in statuses if s["needs_operator"]]
    problems = [c.name for c in checks if not c.ok] + [
        f"client {n} needs an operator ({'; '.join(why)})" for n, why in waiting
    ]
    if worker_service["state"] != "ok":
        problems.append(f"{counted(worker_service['unsent_tasks'], 'plugin task')} not sent to the broker")
    return HealthReport(not problems, problems, checks, statuses, plugins_status(), worker_service)


def needs_operator(client: SyncClient) -> list[str]:
    """Why this client waits for an operator (empty: it does not). Only stops with no end
    count: an auth pause, an operator's pause without an end and the auto-pause after N
    failures, and deletions held by the mass-deletion guard. A pause with an end (`--for 2h`),
    a backoff and a disabled client (switched off on purpose) end by themselves or are the
    operator's own decision."""
    reasons = []
    if held := _deletions_waiting(client):
        reasons.append(f"{deletions_waiting_text(held['count'])}: {held['reason']}")
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
    from syncers.destinations.deletions import deletions_waiting

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
