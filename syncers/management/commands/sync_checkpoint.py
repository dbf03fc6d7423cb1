"""Show where a client's next run resumes (its checkpoint), or forget it with --reset so the
next run reads the source from the start. The admin shows the checkpoint read-only and offers
no way to edit or rewind it, so neither does this command."""

from __future__ import annotations

import json as jsonlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import Truncator

from syncers.management.cli import client_arg, dumps, record_action
from syncers.services import client_checkpoint_reset


class Command(BaseCommand):
    help = "Show a client's checkpoint; --reset forgets it (refused while a run is in progress)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        parser.add_argument("--reset", action="store_true", help="the next run reads from the start")
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument("--by", default="manage.py sync_checkpoint", help="who resets (for the record)")

    def handle(self, *args: Any, client: str, reset: bool, json: bool, by: str, **options: Any) -> None:
        target = client_arg(client)
        was = target.checkpoint
        if reset and was is not None:
            try:
                client_checkpoint_reset(client=target)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            record_action(target, Truncator(f"Checkpoint reset (was {dumps_line(was)})").chars(500), by=by)
            target.refresh_from_db()
        if json:
            report: dict[str, Any] = {
                "client": target.name,
                "checkpoint": target.checkpoint,
                "checkpoint_at": target.checkpoint_at.isoformat() if target.checkpoint_at else None,
            }
            if reset:
                report["reset"] = was is not None
                report["was"] = was
            self.stdout.write(dumps(report))
        elif reset:
            self.stdout.write(
                f"{target.name}: checkpoint {dumps_line(was)} forgotten; the next run reads from the start"
                if was is not None
                else f"{target.name} has no checkpoint; nothing to reset"
            )
        elif target.checkpoint is None:
            self.stdout.write(f"{target.name}: no checkpoint; the next run reads from the start")
        else:
            saved = f" (saved {target.checkpoint_at.isoformat()})" if target.checkpoint_at else ""
            self.stdout.write(
                f"{target.name}: checkpoint {dumps_line(target.checkpoint)}{saved}; the next run resumes there"
            )


def dumps_line(data: object) -> str:
    return jsonlib.dumps(data, default=str, sort_keys=True)
