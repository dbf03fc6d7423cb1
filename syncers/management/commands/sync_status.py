"""Health check and overview: beat, workers, broker, Redis, then each client. Exits 1 when
infrastructure is unhealthy or a client waits for an operator (syncers.ops.status.needs_operator:
auth failure, a pause with no end). A beat that started less than a heartbeat ago is
"starting", not unhealthy."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from syncers.models import SyncClient
from syncers.ops.status import health_report
from syncers.selectors import client_get
from syncers.wording import counted


class Command(BaseCommand):
    help = "Show beat/worker/broker health and each sync client's state; non-zero exit when unhealthy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", nargs="?", help="only this client (name or id)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, client: str | None, json: bool, **options: Any) -> None:
        try:
            targets = [client_get(ref=client)] if client else None
        except SyncClient.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        except DatabaseError:  # no database: health_report says so
            targets = None
        report = health_report(clients=targets)
        if json:
            self.stdout.write(_dumps(report.as_dict()))
        else:
            self._print(report.checks, report.clients)
            if report.checks[0].ok:
                self._print_plugins(report.plugins, report.plugin_tasks)
        if not report.healthy:
            raise CommandError("unhealthy: " + "; ".join(report.problems), returncode=1)

    def _print(self, checks: list, statuses: list[dict[str, Any]]) -> None:
        for check in checks:
            mark = self.style.SUCCESS("ok ") if check.ok else self.style.ERROR("BAD")
            self.stdout.write(f"{mark} {check.name:<8} {check.detail}")
        for s in statuses:
            state = s["state"] + (f" (level {s['error_level']})" if s["error_level"] else "")
            if s["pause_reason"]:
                state += f": {s['pause_reason']}" + (f" — by {s['paused_by']}" if s["paused_by"] else "")
            if s["paused_until"]:
                state += f", until {s['paused_until']}"
            self.stdout.write(f"\n{s['client']}: {state}")
            for sch in s["schedules"]:
                next_at = sch["next"] or ("disabled" if not sch["enabled"] else "-")
                self.stdout.write(f"  schedule {sch['schedule']}: next {next_at}")
            run = s["last_run"]
            if run:
                self.stdout.write(
                    f"  last run #{run['id']} {run['status']} ({run['trigger']}, {run['queued_at']}): "
                    f"fetched={run['fetched']} created={run['created']} updated={run['updated']} "
                    f"unchanged={run['unchanged']} failed={run['failed']}"
                    + (f" error: {run['error']}" if run["error"] else "")
                )
            else:
                self.stdout.write("  never run")
            if held := s["deletions_waiting"]:
                self.stdout.write(
                    f"  deletions waiting for approval: {held['count']} ({held['reason']}); "
                    f"see sync_deletions {s['client']} --list"
                )

    def _print_plugins(self, plugins: list[dict[str, Any]], worker_service: dict[str, Any]) -> None:
        for p in plugins:
            state = "enabled" if p["enabled"] else "disabled"
            waiting = (
                f", {counted(p['requested'], 'permission')} awaiting a decision" if p["requested"] else ""
            )
            error = f", last error: {p['last_error']}" if p["last_error"] else ""
            self.stdout.write(
                f"\nplugin {p['plugin']} {p['version']}: {state}, {p['granted']} granted{waiting}{error}"
            )
        if worker_service["state"] != "ok":
            self.stdout.write(
                f"plugin tasks: {worker_service['unsent_tasks']} waiting unsent since {worker_service['oldest_unsent']}"
            )


def _dumps(data: object) -> str:
    return json.dumps(data, indent=2, default=str)
