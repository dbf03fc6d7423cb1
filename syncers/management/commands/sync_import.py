"""Bulk import: walk the whole listing page after page. Resumable — running it again
continues from the last committed page; --restart starts over. The fetch runs here (with a
progress display); workers load the batches, or this process with --inline."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncers.models import SyncClient, SyncRun
from syncers.registry import Page
from syncers.selectors import client_get, run_summary, run_wait_final
from syncers.services import (
    client_checkpoint_reset,
    client_pause_text,
    sync_fetch_here,
    sync_run_now_here,
)


class Progress:
    """A one-line bar on a terminal; a plain line every `every` pages otherwise."""

    def __init__(self, out: Any, tty: bool, every: int = 10) -> None:
        self.out, self.tty, self.every = out, tty, every
        self.started = time.monotonic()
        self.pages = self.records = 0

    def __call__(self, run: SyncRun, page: Page) -> None:
        self.pages += 1
        self.records += len(page.records)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        line = f"page {page.number}: {self.pages} pages, {self.records:,} records, {self.records / elapsed:,.0f} rec/s"
        if self.tty:
            self.out.write(f"\r{line}   ", ending="")
            self.out.flush()
        elif self.pages % self.every == 0 or page.is_last:
            self.out.write(line)


class Command(BaseCommand):
    help = "Import a client's whole listing, resumably, with progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        parser.add_argument("--restart", action="store_true", help="forget the checkpoint and start over")
        parser.add_argument("--limit-pages", type=int, help="stop after N pages (the next import continues)")
        parser.add_argument("--inline", action="store_true", help="load batches in this process too")
        parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the loads")

    def handle(
        self,
        *args: Any,
        client: str,
        restart: bool,
        limit_pages: int | None,
        inline: bool,
        timeout: float,
        **options: Any,
    ) -> None:
        if limit_pages is not None and limit_pages < 1:
            raise CommandError("--limit-pages must be at least 1")
        try:
            target = client_get(ref=client)
            if restart:
                client_checkpoint_reset(client=target)
        except (SyncClient.DoesNotExist, ValueError) as exc:
            raise CommandError(str(exc)) from None
        target.refresh_from_db()
        if not target.may_run:  # its run would only end skipped
            raise CommandError(
                f"client {target.name} is paused ({client_pause_text(target)}): resume it first"
            )
        resume = f", resuming at checkpoint {target.checkpoint}" if target.checkpoint else " from the start"
        self.stdout.write(f"importing {target.name}{resume}")
        progress = Progress(self.stdout, tty=sys.stdout.isatty())
        who = "manage.py sync_import"
        if inline:
            run = sync_run_now_here(client=target, who=who, max_pages=limit_pages, on_page=progress)
        else:
            run = sync_fetch_here(client=target, who=who, max_pages=limit_pages, on_page=progress)
            if not run.is_final:
                self.stdout.write("\nfetched; waiting for workers to load the batches...")
                run = run_wait_final(run_id=run.pk, timeout=timeout)
        if progress.tty:
            self.stdout.write("")
        self.stdout.write(run_summary(run))
        target.refresh_from_db()
        if target.checkpoint:
            self.stdout.write(
                f"stopped before the end; run the import again to continue at {target.checkpoint}"
            )
        if run.status not in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL):
            raise CommandError(f"import {run.status}", returncode=1)
