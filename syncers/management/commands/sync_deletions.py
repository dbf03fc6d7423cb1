"""Deletions the mass-deletion guard held back for a client: list their keys, approve them
(exactly those keys are applied) or reject them (the rows stay)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncers.destinations.deletions import (
    deletions_waiting,
    pending_deletion_approve,
    pending_deletion_reject,
)
from syncers.management.cli import client_arg, record_action
from syncers.wording import counted, deletions_approved, deletions_rejected


class Command(BaseCommand):
    help = (
        "Deletions waiting for approval of a destination client: --list shows the keys, --approve "
        "applies exactly those keys, --reject discards them. Exit 1 when nothing waits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--list", action="store_true", help="show the waiting deletions and their keys")
        action.add_argument("--approve", action="store_true", help="apply exactly the listed keys")
        action.add_argument("--reject", action="store_true", help="discard them; the rows stay")
        parser.add_argument("--by", default="manage.py sync_deletions", help="who decides (for the record)")

    def handle(
        self, *args: Any, client: str, list: bool, approve: bool, reject: bool, by: str, **options: Any
    ) -> None:
        target = client_arg(client)
        waiting = deletions_waiting(target)
        if waiting is None:
            raise CommandError(f"{target.name} has no deletions waiting for approval", returncode=1)
        if list:
            run = f"run #{waiting.run_id}" if waiting.run_id else "a run"
            self.stdout.write(
                f"{target.name}: {counted(len(waiting.keys), 'deletion')} ({waiting.action}) waiting since "
                f"{waiting.created_at:%Y-%m-%d %H:%M:%S %Z}, held by {run}: {waiting.reason}"
            )
            for key in waiting.keys:
                self.stdout.write(f"  {key}")
            return
        try:
            if approve:
                applied = pending_deletion_approve(pending=waiting, who=by)
                message = deletions_approved(len(waiting.keys), applied, waiting.action)
            else:
                pending_deletion_reject(pending=waiting, who=by)
                message = deletions_rejected(len(waiting.keys))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        record_action(target, message, by=by)
        self.stdout.write(f"{target.name}: {message}")
