"""Apply a YAML declaration of connections, clients, schedules, notifications and plugin
permissions (see syncers.config_as_code)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncers.config_as_code import ConfigError, apply_config, load_file
from syncers.wording import counted


class Command(BaseCommand):
    help = "Make the setup match a YAML file; idempotent. --dry-run prints the changes only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="YAML file (default: settings.SYNC_CONFIG_FILE)")
        parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="delete clients/connections the file omits (only of sections the file has)",
        )
        parser.add_argument(
            "--yes", action="store_true", help="confirm a prune that deletes more than 3 objects"
        )

    def handle(
        self, *args: Any, file: str | None, dry_run: bool, prune: bool, yes: bool, **options: Any
    ) -> None:
        path = file or settings.SYNC_CONFIG_FILE
        if not path:
            raise CommandError("no file given and SYNC_CONFIG_FILE is not set")
        try:
            plan = apply_config(load_file(path), dry_run=dry_run, prune_undeclared=prune, confirmed=yes)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        for line in plan.changes:
            self.stdout.write(line)
        verb = "would change" if dry_run else "changed"
        self.stdout.write(
            f"{verb} {counted(len(plan.changes), 'thing')}" if plan.changes else "nothing to change"
        )
