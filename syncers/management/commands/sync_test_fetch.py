"""The admin's "Test fetch": the first page through the client's real connection and handler,
mapped to external ids as a run would map it. Nothing is stored (no run, batch or checkpoint)."""

from __future__ import annotations

import json as jsonlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import Truncator

from syncers.management.cli import client_arg, dumps, record_action
from syncers.services import FetchPreview, client_test_fetch
from syncers.wording import counted


class Command(BaseCommand):
    help = (
        "Fetch a client's first page and show its records as a run would map them; stores nothing. "
        "Exit 1 when the fetch fails, 2 when a record shown has no usable id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        parser.add_argument("--limit", type=int, default=20, help="records to show (default 20)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument("--by", default="manage.py sync_test_fetch", help="who tests (for the record)")

    def handle(self, *args: Any, client: str, limit: int, json: bool, by: str, **options: Any) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        target = client_arg(client)
        result = client_test_fetch(client=target, limit=limit)
        outcome = result.error or f"page {result.page}, {counted(result.page_records, 'record')}"
        record_action(target, f"Test fetch ({result.seconds:.1f}s): {outcome[:200]}", by=by)
        unusable = sum(1 for r in result.records if r.external_id is None)
        if json:
            report = {
                "client": target.name,
                "error": result.error,
                "page": result.page,
                "page_records": result.page_records,
                "is_last": result.is_last,
                "seconds": round(result.seconds, 3),
                "records": [
                    {"external_id": r.external_id, "record": r.record, "set_aside": r.set_aside}
                    for r in result.records
                ],
            }
            self.stdout.write(dumps(report))
        elif not result.error:
            self._print(target.name, result)
        if result.error:
            raise CommandError(f"test fetch of {target.name} failed: {result.error}")
        if unusable:
            raise CommandError(
                f"{unusable} of the {counted(len(result.records), 'record')} shown "
                f"{'has' if unusable == 1 else 'have'} no usable id "
                "(a run would keep them as failed records)",
                returncode=2,
            )

    def _print(self, name: str, result: FetchPreview) -> None:
        if result.page is None:
            self.stdout.write(f"{name}: the source returned no page")
            return
        last = " (the last page)" if result.is_last else ""
        self.stdout.write(
            f"{name}: page {result.page}, {counted(result.page_records, 'record')} "
            f"in {result.seconds:.2f}s{last}; "
            f"showing {len(result.records)} as a run would map them; nothing was stored"
        )
        for r in result.records:
            shown = "(no usable id)" if r.external_id is None else r.external_id
            text = Truncator(jsonlib.dumps(r.record, ensure_ascii=False, default=str)).chars(100)
            aside = f"  [set aside: {r.set_aside}]" if r.set_aside else ""
            self.stdout.write(f"  {shown:<20} {text}{aside}")
