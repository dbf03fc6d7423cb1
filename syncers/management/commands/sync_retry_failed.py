"""Retry failed records, as the admin's "Retry failed records" button (all) and the failed
records list's "Retry selected" action do: they are staged as batches of a new run that
workers load; records stored in a newer version since they failed are dropped instead."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncers.management.cli import client_arg, dumps, exit_code, record_action
from syncers.models import FailedRecord, SyncClient
from syncers.selectors import run_summary, run_wait_final
from syncers.services import failed_records_retry
from syncers.wording import counted


class Command(BaseCommand):
    help = (
        "Retry a client's failed records (--all, or --id EXTERNAL_ID / --record N, repeatable) as a "
        "new run. With --wait, exit like sync_run --wait: 0 succeeded, 2 some failed again, 1 otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        parser.add_argument(
            "--all", dest="every", action="store_true", help="every failed record of the client"
        )
        parser.add_argument(
            "--id",
            dest="external_ids",
            action="append",
            default=[],
            metavar="EXTERNAL_ID",
            help="failed records with this external id",
        )
        parser.add_argument(
            "--record",
            dest="records",
            action="append",
            type=int,
            default=[],
            metavar="N",
            help="the failed record numbered N by sync_failed (records without an id have only this)",
        )
        parser.add_argument("--wait", action="store_true", help="wait for the retry run to finish")
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (default 600)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument(
            "--by", default="manage.py sync_retry_failed", help="who retries (for the record)"
        )

    def handle(
        self,
        *args: Any,
        client: str,
        every: bool,
        external_ids: list[str],
        records: list[int],
        wait: bool,
        timeout: float,
        json: bool,
        by: str,
        **options: Any,
    ) -> None:
        if every == bool(external_ids or records):
            raise CommandError("say which: --all, or --id EXTERNAL_ID / --record N (not both)")
        target = client_arg(client)
        ids = None if every else self._chosen(target, external_ids, records)
        try:
            outcome = failed_records_retry(client=target, who=by, record_ids=ids)
        except ValueError as exc:
            raise CommandError(f"{target.name}: {exc}") from None
        run = outcome.run
        record_action(
            target,
            f"Retry failed records: {outcome.staged} re-staged in {f'run #{run.pk}' if run else 'no run'}, "
            f"{outcome.superseded} superseded",
            by=by,
        )
        report: dict[str, Any] = {
            "client": target.name,
            "staged": outcome.staged,
            "superseded": outcome.superseded,
            "run": run.pk if run else None,
        }
        text = f"{target.name}: {counted(outcome.staged, 'failed record')} re-staged" + (
            f" in run #{run.pk}" if run else ""
        )
        if outcome.superseded:
            text += f", {outcome.superseded} dropped (a newer version is already stored)"
        final = None
        if wait and run is not None:
            try:
                final = run_wait_final(run_id=run.pk, timeout=timeout)
            except TimeoutError as exc:
                raise CommandError(f"{exc}; is a worker consuming queue '{target.queue}'?") from None
            report |= {"status": final.status, **final.counts(), "error": final.error}
        if json:
            self.stdout.write(dumps(report))
        else:
            self.stdout.write(text)
            if final is not None:
                self.stdout.write(run_summary(final))
        if final is not None and (code := exit_code([final])):
            raise CommandError(f"retry run #{final.pk} {final.status}", returncode=code)

    def _chosen(self, target: SyncClient, external_ids: list[str], records: list[int]) -> list[int]:
        """Failed-record numbers for the ids given; every one must exist, or nothing is retried."""
        rows = FailedRecord.objects.filter(client=target)
        pairs = set(rows.filter(external_id__in=external_ids).values_list("pk", "external_id"))
        pairs |= set(rows.filter(pk__in=records).values_list("pk", "external_id"))
        missing = [f"id '{e}'" for e in external_ids if e not in {x for _, x in pairs}]
        missing += [f"#{n}" for n in records if n not in {pk for pk, _ in pairs}]
        if missing:
            raise CommandError(f"{target.name} has no failed record {', '.join(missing)} (see sync_failed)")
        return sorted(pk for pk, _ in pairs)
