"""The admin's "Test connection": one GET through the connection's full policy, no retries.
Like the admin it writes nothing, and the secret never appears (the gateway keeps it out of
errors and URLs)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.services import connection_test
from syncers.management.cli import connection_arg, dumps


class Command(BaseCommand):
    help = (
        "Make one request through a connection and print status and latency or the classified error. "
        "Exit 1 when the request fails, 2 when the answer is not usable JSON."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection", help="connection name or id")
        parser.add_argument("--path", default="/", help="requested under the base URL (default /)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, connection: str, path: str, json: bool, **options: Any) -> None:
        target = connection_arg(connection)
        result = connection_test(connection=target, path=path)
        if json:
            report = {
                "connection": target.name,
                "path": path,
                "ok": result.ok,
                "status": result.status,
                "elapsed_ms": round(result.elapsed * 1000),
                "error_kind": result.error_kind,
                "message": result.message,
            }
            self.stdout.write(dumps(report))
        elif result.ok:
            self.stdout.write(f"{target.name}: {result}")
        if not result.ok:
            raise CommandError(f"{target.name}: {result}", returncode=1 if result.error_kind else 2)
