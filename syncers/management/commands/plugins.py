"""List installed plugins: version, mode, enabled, started, last error, each permission
it asked for or was given, with its state and who decided it, and its jobs with their
arguments and next run (what the plugin's `ctx.scheduler.jobs()` returns)."""

from __future__ import annotations

from json import dumps as one_line
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from syncers.management.cli import dumps
from syncers.plugins.errors import last_error_text
from syncers.plugins.status import plugins_overview


class Command(BaseCommand):
    help = (
        "List installed plugins, their permissions (requested, granted, refused) and their jobs "
        "(schedule, arguments, next run)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, json: bool, **options: Any) -> None:
        rows = plugins_overview()
        if json:
            self.stdout.write(dumps({"plugins": rows}))
            return
        if not rows:
            self.stdout.write("no plugin installed")
        for p in rows:
            state = "enabled" if p["enabled"] else "disabled"
            code = "" if p["installed"] else ", code no longer installed"
            started = f", started {p['started_at']}" if p["started_at"] else ""
            error = f", {last_error_text(p['last_error'])}" if p["last_error"] else ""
            self.stdout.write(f"{p['plugin']} {p['version']} ({p['mode']}): {state}{code}{started}{error}")
            for perm in p["permissions"]:
                decided = f" by {perm['decided_by']} at {perm['decided_at']}" if perm["decided_by"] else ""
                self.stdout.write(f"  {perm['state']:<9} {perm['resource']} [{perm['actions']}]{decided}")
            for job in p["jobs"]:
                given = f" {one_line(job['kwargs'])}" if job["kwargs"] else ""
                when = f"next {job['next_run']}" if job["next_run"] else "paused"
                self.stdout.write(f"  job {job['id']}: {job['call']}{given}, {job['schedule']}, {when}")
