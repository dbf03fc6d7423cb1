"""Resume a paused connection; its clients run again at their next schedule (missed runs are
not made up)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from gateway.services import connection_resume
from syncers.management.cli import connection_arg, record_action


class Command(BaseCommand):
    help = "Resume a paused connection."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection", help="connection name or id")
        parser.add_argument(
            "--by", default="manage.py connection_resume", help="who resumes (for the record)"
        )

    def handle(self, *args: Any, connection: str, by: str, **options: Any) -> None:
        target = connection_arg(connection)
        if not target.paused:
            self.stdout.write(f"{target.name} is not paused")
            return
        connection_resume(connection=target)
        record_action(target, f"Resumed (was paused: {target.pause_reason})", by=by)
        self.stdout.write(f"resumed {target.name} (was paused: {target.pause_reason})")
