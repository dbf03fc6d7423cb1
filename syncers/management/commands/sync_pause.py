"""Pause a client: its scheduled runs are recorded as skipped and make no request. With
--disable, records pushed to its webhook are refused too, until it is resumed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from syncers.management.cli import client_arg, parse_duration, record_action
from syncers.services import client_disable, client_pause


class Command(BaseCommand):
    help = "Pause a sync client, optionally for a while (--for 2h)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        parser.add_argument("--reason", default="paused from the command line", help="shown everywhere")
        parser.add_argument("--for", dest="duration", help="resume by itself after e.g. 30m, 2h, 1d")
        parser.add_argument("--by", default="manage.py sync_pause", help="who pauses (for the record)")
        parser.add_argument(
            "--disable", action="store_true", help="disable: also refuse pushed records, until resumed"
        )

    def handle(
        self,
        *args: Any,
        client: str,
        reason: str,
        duration: str | None,
        by: str,
        disable: bool,
        **options: Any,
    ) -> None:
        target = client_arg(client)
        if disable and duration:
            raise CommandError("--disable lasts until resumed: leave out --for")
        until = timezone.now() + parse_duration(duration) if duration else None
        try:
            if disable:
                target = client_disable(client=target, who=by, reason=reason)
            else:
                target = client_pause(client=target, who=by, reason=reason, until=until)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        ends = f" until {target.paused_until:%Y-%m-%d %H:%M:%S %Z}" if target.paused_until else ""
        verb = "disabled" if disable else "paused"
        record_action(target, f"{verb.capitalize()}{ends}: {target.pause_reason}", by=by)
        self.stdout.write(f"{verb} {target.name}{ends or ' until resumed'}: {target.pause_reason}")
