"""Cancel a client's run, as the admin's Cancel button does: a queued run ends at once, a
running one stops between pages and batches (loaded batches stay; the next run adopts the rest)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncers.management.cli import client_arg, record_action
from syncers.models import SyncRun
from syncers.selectors import run_summary, run_wait_final
from syncers.services import run_cancel_request


class Command(BaseCommand):
    help = (
        "Cancel a client's queued and running runs (or --run ID). With --wait SECONDS, wait for "
        "them to stop and exit 1 unless each ended cancelled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        parser.add_argument("--run", type=int, help="only this run (its number)")
        parser.add_argument("--wait", type=float, metavar="SECONDS", help="wait this long for it to stop")
        parser.add_argument("--by", default="manage.py sync_cancel", help="who cancels (for the record)")

    def handle(
        self, *args: Any, client: str, run: int | None, wait: float | None, by: str, **options: Any
    ) -> None:
        target = client_arg(client)
        runs = SyncRun.objects.filter(client=target).select_related("client")
        if run is not None:
            chosen = list(runs.filter(pk=run))
            if not chosen:
                raise CommandError(f"run #{run} is not a run of {target.name}")
        else:
            # Every active run: a queued one left behind would start as soon as the running one ends.
            chosen = list(
                runs.filter(status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]).order_by("pk")
            )
            if not chosen:
                raise CommandError(f"{target.name} has no queued or running run to cancel")
        asked = []
        for each in chosen:
            try:
                each = run_cancel_request(run=each, who=by)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            done = each.status == SyncRun.Status.CANCELLED
            record_action(target, f"Cancel run #{each.pk}: {'cancelled' if done else 'requested'}", by=by)
            self.stdout.write(
                f"run #{each.pk} of {target.name} "
                + ("cancelled" if done else "cancel requested; it stops between pages and batches")
            )
            asked.append(each)
        if wait is None:
            return
        late = []
        for each in asked:
            try:
                final = run_wait_final(run_id=each.pk, timeout=wait)
            except TimeoutError as exc:
                raise CommandError(f"{exc}; is a worker consuming queue '{target.queue}'?") from None
            self.stdout.write(run_summary(final))
            if final.status != SyncRun.Status.CANCELLED:
                late.append(f"run #{final.pk} ended {final.status} before it saw the cancel")
        if late:
            raise CommandError("; ".join(late))
