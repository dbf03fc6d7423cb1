"""A client's schedules with their next fire times; --enable / --disable switches all of them,
as the client list's bulk actions do (beat follows without a restart)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from syncers.management.cli import client_arg, dumps, record_action
from syncers.run_context import describe_extras
from syncers.selectors import client_schedules
from syncers.services import client_schedules_set_enabled
from syncers.wording import counted


class Command(BaseCommand):
    help = "List a client's schedules and next fire times; --enable or --disable all of them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--enable", action="store_true", help="enable every schedule of the client")
        group.add_argument("--disable", action="store_true", help="disable every schedule of the client")
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument("--by", default="manage.py sync_schedules", help="who switches (for the record)")

    def handle(
        self, *args: Any, client: str, enable: bool, disable: bool, json: bool, by: str, **options: Any
    ) -> None:
        target = client_arg(client)
        changed = None
        if enable or disable:
            changed = client_schedules_set_enabled(client=target, enabled=enable)
            if changed:
                record_action(
                    target, f"{'Enabled' if enable else 'Disabled'} {counted(changed, 'schedule')}", by=by
                )
        rows = client_schedules(client=target)
        if json:
            report: dict[str, Any] = {"client": target.name, "schedules": rows}
            if changed is not None:
                report["changed"] = changed
            self.stdout.write(dumps(report))
            return
        if changed is not None:
            verb = "enabled" if enable else "disabled"
            self.stdout.write(f"{verb} {counted(changed, 'schedule')} of {target.name}; beat follows")
        if not rows:
            self.stdout.write(f"{target.name} has no schedule")
        for s in rows:
            state = f"next {s['next']}" if s["next"] else ("disabled" if not s["enabled"] else "never again")
            notes = ", ".join(n for n in (s["bounds"], describe_extras(s["params"], s["full"])) if n)
            notes = f" ({notes})" if notes else ""
            self.stdout.write(f"  schedule {s['id']}: {s['schedule']}: {state}{notes}")
