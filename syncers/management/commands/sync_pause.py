"""Pause a client: its scheduled runs are recorded as skipped and make no request."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from syncers.models import SyncClient
from syncers.selectors import client_get
from syncers.services import client_pause

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '2h', '1d' (or combined, '1h30m')."""
    parts = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or parts is None or not any(parts.groups()):
        raise CommandError(f"invalid duration '{text}': use e.g. 90s, 15m, 2h, 1d or 1h30m")
    seconds = sum(int(v) * UNITS[u] for v, u in zip(parts.groups(), "dhms", strict=True) if v)
    return timedelta(seconds=seconds)


class Command(BaseCommand):
    help = "Pause a sync client, optionally for a while (--for 2h)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        parser.add_argument("--reason", default="paused from the command line", help="shown everywhere")
        parser.add_argument("--for", dest="duration", help="resume by itself after e.g. 30m, 2h, 1d")
        parser.add_argument("--by", default="manage.py sync_pause", help="who pauses (for the record)")

    def handle(
        self, *args: Any, client: str, reason: str, duration: str | None, by: str, **options: Any
    ) -> None:
        try:
            target = client_get(ref=client)
        except SyncClient.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        until = timezone.now() + parse_duration(duration) if duration else None
        try:
            target = client_pause(client=target, who=by, reason=reason, until=until)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        ends = (
            f" until {target.paused_until:%Y-%m-%d %H:%M:%S %Z}" if target.paused_until else " until resumed"
        )
        self.stdout.write(f"paused {target.name}{ends}: {target.pause_reason}")
