"""Start runs now, through the same queue and pipeline as a scheduled run."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncers.management.cli import client_arg, exit_code, record_action
from syncers.models import SyncClient, SyncRun
from syncers.run_context import extras_note
from syncers.selectors import run_summary, run_wait_final
from syncers.services import ClientPaused, check_run_context, sync_run_now_here, sync_run_request


class Command(BaseCommand):
    help = "Run sync clients now. With --wait, print the outcome and exit non-zero unless it succeeded."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("clients", nargs="+", help="client names or ids")
        parser.add_argument("--wait", action="store_true", help="wait for each run to finish")
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (default 600)")
        parser.add_argument(
            "--inline", action="store_true", help="run fetch and load in this process (no worker needed)"
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="run a paused client once anyway (the run is recorded as forced; the pause stays)",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="list everything from the start, ignoring the incremental cursor (as a schedule's full)",
        )
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a query parameter for this run only, merged into the source's own (repeatable)",
        )

    def handle(
        self,
        *args: Any,
        clients: list[str],
        wait: bool,
        timeout: float,
        inline: bool,
        force: bool,
        full: bool,
        param: list[str],
        **options: Any,
    ) -> None:
        targets = [client_arg(ref) for ref in clients]  # every name is checked before any run starts
        extra: dict[str, Any] = {"params": parse_params(param), "full": full}
        for client in targets:  # and every client takes the params, before any run starts
            check_context(client, extra)
        paused = [c for c in targets if not c.may_run]
        if paused and not force:  # and every pause: nothing is queued when one client refuses
            raise CommandError("; ".join(f"{ClientPaused(c)}: resume it or use --force" for c in paused))
        forced = " --force" if force else ""
        if inline:
            who = f"manage.py sync_run --inline{forced}"
            finals = [sync_run_now_here(client=c, who=who, force=force, **extra) for c in targets]
            for run in finals:
                what = "Run once anyway although paused" if run.forced else "Run now"
                record_action(
                    run.client,
                    f"{what} (in this process): run #{run.pk} {run.status}{extras_note(run.context)}",
                    by=who,
                )
                self.stdout.write(run_summary(run))
            self._exit(finals)
            return
        who = f"manage.py sync_run{forced}"
        runs = [
            sync_run_request(client=c, trigger=SyncRun.Trigger.COMMAND, who=who, force=force, **extra)
            for c in targets
        ]
        for run in runs:
            what = "Run once anyway although paused" if run.forced else "Run now"
            record_action(run.client, f"{what}: queued run #{run.pk}{extras_note(run.context)}", by=who)
            note = " (forced: the client is paused)" if run.forced else ""
            self.stdout.write(
                f"queued run #{run.pk} of {run.client.name} on queue '{run.client.queue}'{note}"
            )
        if not wait:
            return
        finals = []
        for run in runs:
            try:
                final = run_wait_final(run_id=run.pk, timeout=timeout)
            except TimeoutError as exc:
                raise CommandError(f"{exc}; is a worker consuming queue '{run.client.queue}'?") from None
            self.stdout.write(run_summary(final))
            finals.append(final)
        self._exit(finals)

    def _exit(self, finals: list[SyncRun]) -> None:
        worst = exit_code(finals)
        if worst:
            raise CommandError(f"not every run succeeded (exit {worst})", returncode=worst)


def parse_params(pairs: list[str]) -> dict[str, str]:
    """--param key=value, repeated: a dict of strings (the query string carries text anyway)."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--param {pair!r}: give KEY=VALUE, e.g. --param region=eu")
        if key in params:
            raise CommandError(f"--param {key}: given twice")
        params[key] = value
    return params


def check_context(client: SyncClient, extra: dict[str, Any]) -> None:
    try:
        check_run_context(client=client, **extra)
    except ValidationError as exc:
        raise CommandError(f"--param for {client.name}: {' '.join(exc.messages)}") from None
