"""Resume a paused client. Missed runs are skipped (they were recorded); --run-now runs once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from syncers.management.cli import client_arg, record_action
from syncers.services import client_resume


class Command(BaseCommand):
    help = "Resume a paused sync client (--skip-missed is the default; --run-now runs it once now)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--run-now", action="store_true", help="start one run right away")
        group.add_argument("--skip-missed", action="store_true", help="just resume (the default)")
        parser.add_argument("--by", default="manage.py sync_resume", help="who resumes (for the record)")

    def handle(self, *args: Any, client: str, run_now: bool, by: str, **options: Any) -> None:
        target = client_arg(client)
        was = target.get_state_display()
        run = client_resume(client=target, who=by, run_now=run_now)
        # The pause's who and why are cleared: this entry is what is left of the resume.
        record_action(
            target, "Resumed" + (f", queued run #{run.pk}" if run else " (missed runs skipped)"), by=by
        )
        self.stdout.write(f"resumed {target.name} (was {was})" + (f"; queued run #{run.pk}" if run else ""))
