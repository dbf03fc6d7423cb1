"""Pause a connection: the API is down for everyone, so every client using it records its
runs as skipped and makes no request (the admin does this on the connection's page)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from gateway.services import connection_pause
from syncers.management.cli import connection_arg, parse_duration, record_action
from syncers.wording import counted


class Command(BaseCommand):
    help = "Pause a connection and so every sync client using it, optionally for a while (--for 2h)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection", help="connection name or id")
        parser.add_argument("--reason", required=True, help="shown on every client of the connection")
        parser.add_argument("--for", dest="duration", help="resume by itself after e.g. 30m, 2h, 1d")
        parser.add_argument("--by", default="manage.py connection_pause", help="who pauses (for the record)")

    def handle(
        self, *args: Any, connection: str, reason: str, duration: str | None, by: str, **options: Any
    ) -> None:
        target = connection_arg(connection)
        until = timezone.now() + parse_duration(duration) if duration else None
        try:
            connection_pause(connection=target, reason=reason, until=until)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        ends = f" until {until:%Y-%m-%d %H:%M:%S %Z}" if until else ""
        record_action(target, f"Paused{ends}: {reason.strip()}", by=by)
        clients = target.sync_clients.count()
        self.stdout.write(
            f"paused {target.name}{ends or ' until resumed'}: {reason.strip()} "
            f"({counted(clients, 'client')} affected)"
        )
