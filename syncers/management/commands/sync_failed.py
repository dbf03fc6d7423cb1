"""List a client's failed records (what the admin's Failed records list shows for it)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import Truncator

from syncers.management.cli import client_arg, dumps
from syncers.selectors import client_failed_count, client_failed_records
from syncers.wording import counted


class Command(BaseCommand):
    help = "List a client's failed records, newest first: number, external id, attempts, when, reason."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        parser.add_argument("--limit", type=int, default=50, help="show at most N (default 50)")
        parser.add_argument("--json", action="store_true", help="print one JSON document (payloads included)")

    def handle(self, *args: Any, client: str, limit: int, json: bool, **options: Any) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        target = client_arg(client)
        total = client_failed_count(client=target)
        rows = client_failed_records(client=target, limit=limit)
        if json:
            self.stdout.write(dumps({"client": target.name, "total": total, "failed": rows}))
            return
        self.stdout.write(f"{target.name}: {counted(total, 'failed record')}")
        for r in rows:
            external_id = r["external_id"] or "(no id)"
            reason = Truncator(" ".join(r["reason"].split())).chars(100)
            self.stdout.write(
                f"  #{r['id']:<6} {external_id:<20} attempts {r['attempts']}  {r['failed_at']}  "
                f"run #{r['run'] or '-'}  {reason}"
            )
        if total > len(rows):
            self.stdout.write(f"  ... and {total - len(rows)} more (--limit)")
