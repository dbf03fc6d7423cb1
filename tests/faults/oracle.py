"""The oracle every fault scenario ends with: once the system is quiet again, the database,
the lease store, the broker and the logs must tell one consistent story for the client.

It collects every broken promise before failing, so one run of a scenario shows all of them."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import close_old_connections
from django.db import connection as db_connection
from django.db.models import Sum

from fakeapi.control import FakeApi
from fakeapi.dataset import parse_time
from syncers.models import FailedRecord, SyncBatch, SyncClient, SyncedRecord, SyncRun
from syncers.pipeline.lease import client_lease_name, leases
from syncers.registry import get_handler

from .broker import broker_text, queue_length, redis_text, task_of, unacked_messages

COUNTS = ("created", "updated", "unchanged", "failed")
FINALISED = {SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL, SyncRun.Status.FAILED}
SKIPPED = {SyncRun.Status.SKIPPED_LOCKED, SyncRun.Status.SKIPPED_PAUSED}


class RunWatch:
    """Samples the client's run statuses in a background thread while a scenario runs, so the
    oracle can tell whether a run ever left a final status (a final status never changes)."""

    def __init__(self, client_id: int, every: float = 0.2) -> None:
        self.client_id, self.every = client_id, every
        self.seen: dict[int, list[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="run-watch", daemon=True)

    def __enter__(self) -> RunWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout=10)

    def _watch(self) -> None:
        try:
            while not self._stop.wait(self.every):
                with contextlib.suppress(Exception):  # the database may be restarting
                    self.sample()
        finally:
            db_connection.close()

    def sample(self) -> None:
        rows = SyncRun.objects.filter(client_id=self.client_id).values_list("pk", "status")
        for pk, status in rows:
            history = self.seen.setdefault(pk, [])
            if not history or history[-1] != status:
                history.append(status)

    def changed_after_final(self) -> dict[int, list[str]]:
        return {
            pk: statuses
            for pk, statuses in self.seen.items()
            if any(s in SyncRun.FINAL for s in statuses[:-1])
        }


def assert_system_consistent(
    client: SyncClient,
    api: FakeApi,
    *,
    canary: str | None = None,
    logs: Iterable[Path] = (),
    watch: RunWatch | None = None,
) -> None:
    """Every promise of DESIGN.md section 3 that can be read off a quiet system, for `client`
    and the records the fake API `api` serves now. `canary`: the connection's secret, which
    must appear nowhere but its encrypted column; `logs`: process logs to search for it;
    `watch`: run statuses sampled during the scenario."""
    close_old_connections()
    client = SyncClient.objects.select_related("connection").get(pk=client.pk)
    problems: list[str] = []
    if watch is not None:
        watch.stop()
        watch.sample()
        for pk, statuses in watch.changed_after_final().items():
            problems.append(f"run #{pk} left a final status: {' -> '.join(statuses)}")
    problems += _records(client, api.records(), api.gone())
    problems += _runs(client)
    problems += _lease_and_queue(client)
    if canary is not None:
        problems += _canary(client, canary, logs)
    assert not problems, "system inconsistent after the fault:\n- " + "\n- ".join(problems)


# --- Records: nothing lost, nothing doubled, newest version, checkpoint behind the data ----


def _records(client: SyncClient, served: list[Any], gone: Sequence[Any] = ()) -> list[str]:
    """`served`: what the API lists now; `gone`: what it served before deleting it (a sync
    does not delete, so those stay expected; one deleted before it was served does not)."""
    problems: list[str] = []
    handler = get_handler(client.handler)
    config = handler.clean_config(client.config or {})
    expected: dict[str, Any] = {}
    unusable: list[Any] = []
    for record in [*gone, *served]:
        external_id = handler.external_id(record, config)
        text = json.dumps(record, separators=(",", ":"))
        too_big = len(text) > settings.SYNC_MAX_RECORD_BYTES  # the test keeps clear of the bound
        if external_id is None or len(external_id) > 255 or "\\u0000" in text or too_big:
            unusable.append(record)
        else:
            expected[external_id] = record  # a later occurrence in the listing is newer
    stored = dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "data"))
    failed = list(FailedRecord.objects.filter(client=client).values_list("external_id", "payload", "reason"))
    failed_ids = {eid for eid, _, reason in failed if eid and reason}
    missing = sorted(set(expected) - set(stored) - failed_ids, key=_natural)
    extra = sorted(set(stored) - set(expected), key=_natural)
    stale = sorted((k for k in set(stored) & set(expected) if stored[k] != expected[k]), key=_natural)
    if missing:
        problems.append(f"{len(missing)} served record(s) neither stored nor failed: {_few(missing)}")
    if extra:
        problems.append(f"{len(extra)} stored record(s) the API never served: {_few(extra)}")
    if stale:
        problems.append(f"{len(stale)} record(s) not at the newest served version: {_few(stale)}")
    failed_payloads = [json.loads(p) for _, p, reason in failed if reason]
    lost_bad = [r for r in unusable if r not in failed_payloads]
    if lost_bad:
        problems.append(f"{len(lost_bad)} unusable record(s) not kept as failed: {_few(lost_bad)}")
    if any(not reason for _, _, reason in failed):
        problems.append("a failed record has no reason")
    problems += _not_doubled(client, len(stored))
    problems += _checkpoint(client, config, served, handler, stored, failed_ids)
    return problems


def _not_doubled(client: SyncClient, stored: int) -> list[str]:
    """Each record is created by exactly one batch, and counted by exactly one run (the one
    that loaded that batch, also when the run was abandoned or superseded later); each bad
    record is kept once, with one attempt per batch that refused it (fewer once a record
    that loaded has left the list)."""
    problems = []
    sums = SyncBatch.objects.filter(client=client).aggregate(created=Sum("created"), failed=Sum("failed"))
    if (sums["created"] or 0) != stored:
        problems.append(f"batches report {sums['created'] or 0} created rows, the table holds {stored}")
    by_runs = SyncRun.objects.filter(client=client).aggregate(created=Sum("created"))["created"] or 0
    if by_runs != stored:
        problems.append(f"runs report {by_runs} created rows, the table holds {stored}")
    attempts = FailedRecord.objects.filter(client=client).aggregate(n=Sum("attempts"))["n"] or 0
    if attempts > (sums["failed"] or 0):
        problems.append(f"failed records count {attempts} attempts, batches refused {sums['failed'] or 0}")
    keys = Counter(FailedRecord.objects.filter(client=client).values_list("record_key", flat=True))
    doubled = [k for k, n in keys.items() if n > 1]
    if doubled:
        problems.append(f"failed records kept twice: {_few(doubled)}")
    return problems


# Checkpoint keys of the REST source (syncers.handlers.pagination and .incremental).
POSITION_KEYS = {"next_page", "next_offset", "anchor", "cursor", "next_url", "page", "listing_done"}
CURSOR_KEYS = {"updated_since", "max_seen"}


def _checkpoint(client, config, served, handler, stored, failed_ids) -> list[str]:
    """A committed checkpoint may only point past records that are all in the database."""
    checkpoint = client.checkpoint
    if not checkpoint:
        return []
    unknown = set(checkpoint) - POSITION_KEYS - CURSOR_KEYS
    if unknown:
        return [f"the oracle does not know checkpoint keys {sorted(unknown)}; teach tests/faults/oracle.py"]
    listing = _listing(served, checkpoint.get("updated_since"), config)
    if "next_page" in checkpoint:
        start = int(config.get("start_page", 1))
        covered = max(0, int(checkpoint["next_page"]) - start) * int(config["page_size"])
    elif checkpoint.get("anchor"):
        # Offset with an overlap: the listing may have changed since, so the last anchor id
        # still listed marks the end of what was read, not the offset. None left: the next
        # run steps back to find its place; nothing to check here.
        anchor = {str(a) for a in checkpoint["anchor"]}
        found = [n for n, r in enumerate(listing) if handler.external_id(r, config) in anchor]
        if not found:
            return []
        covered = found[-1] + 1
    elif "next_offset" in checkpoint:
        covered = int(checkpoint["next_offset"])
    else:
        return []  # opaque cursor or next URL; or the listing ended (the records check covers it)
    behind = [
        eid
        for record in listing[:covered]
        if (eid := handler.external_id(record, config)) is not None
        and eid not in stored
        and eid not in failed_ids
    ]
    if behind:
        return [f"checkpoint {checkpoint} is ahead of the data: {_few(behind)} not stored"]
    return []


def _listing(served: list[Any], since: Any, config: dict[str, Any]) -> list[Any]:
    """The listing a run pages through: all records, or with an incremental cursor the fake
    API's inclusive `updated_since` listing, ordered by updated_at, then position."""
    if since is None:
        return served
    field = (config.get("incremental") or {}).get("field", "updated_at")
    floor = parse_time(since)
    chosen = []
    for position, record in enumerate(served):
        moment = parse_time(record.get(field)) if isinstance(record, dict) else None
        if moment is not None and floor is not None and moment >= floor:
            chosen.append((moment, position, record))
    return [record for _, _, record in sorted(chosen, key=lambda c: (c[0], c[1]))]


def assert_checkpoint_staged(client: SyncClient) -> dict[str, Any] | None:
    """Right after a crash: every page before the committed checkpoint has staged batches."""
    client.refresh_from_db()
    checkpoint = client.checkpoint
    if not checkpoint:
        return checkpoint
    config = get_handler(client.handler).clean_config(client.config or {})
    next_page = checkpoint.get("next_page", checkpoint.get("page"))
    if next_page is None:
        return checkpoint
    staged = set(SyncBatch.objects.filter(client=client).values_list("page", flat=True))
    wanted = set(range(int(config.get("start_page", 1)), int(next_page)))
    assert wanted <= staged, f"checkpoint {checkpoint} ahead of staged pages {sorted(staged)}"
    return checkpoint


# --- Runs: one final status each, counts from the database ---------------------------------


def _runs(client: SyncClient) -> list[str]:
    problems = []
    pending = SyncBatch.objects.filter(client=client, state=SyncBatch.State.PENDING)
    if pending.exists():
        problems.append(
            f"{pending.count()} batch(es) still pending: {_few(list(pending.values_list('pk', flat=True)))}"
        )
    for run in SyncRun.objects.filter(client=client).order_by("pk"):
        problems += [f"run #{run.pk} ({run.status}): {p}" for p in _run_problems(run)]
    return problems


def _run_problems(run: SyncRun) -> list[str]:
    if not run.is_final:
        return ["not final (left queued or running)"]
    problems = [] if run.finished_at else ["final without a finish time"]
    batches = SyncBatch.objects.filter(run=run)
    if run.status in FINALISED:
        if not run.fetch_done:
            problems.append("finalised before fetching was over")
        if batches.filter(state=SyncBatch.State.PENDING).exists():
            problems.append("finalised with batches outstanding")
        totals = batches.aggregate(**{k: Sum(k) for k in COUNTS})
        counted = {k: getattr(run, k) for k in COUNTS}
        from_db = {k: totals[k] or 0 for k in COUNTS}
        if counted != from_db:
            problems.append(f"counts {counted} differ from its batches {from_db}")
        if run.status == SyncRun.Status.SUCCEEDED and (run.error or run.failed):
            problems.append(f"succeeded with error {run.error!r} / {run.failed} failed")
        if run.status == SyncRun.Status.PARTIAL and not run.failed:
            problems.append("partial without failed records")
        if run.status == SyncRun.Status.FAILED and not run.error:
            problems.append("failed without an error text")
    elif run.status in SKIPPED:
        if run.pages or batches.exists():
            problems.append(f"skipped but staged {run.pages} page(s)")
    else:
        if run.status == SyncRun.Status.ABANDONED and not run.error:
            problems.append("abandoned without saying why")
        # Closed early (abandoned, superseded, cancelled): the counts of the batches it loaded.
        totals = batches.filter(state=SyncBatch.State.DONE).aggregate(**{k: Sum(k) for k in COUNTS})
        counted = {k: getattr(run, k) for k in COUNTS}
        from_db = {k: totals[k] or 0 for k in COUNTS}
        if counted != from_db:
            problems.append(f"counts {counted} differ from its loaded batches {from_db}")
    return problems


# --- Lease and broker ---------------------------------------------------------------------


def _lease_and_queue(client: SyncClient) -> list[str]:
    problems = []
    holder = leases().holder(client_lease_name(client.pk))
    if holder is not None:
        problems.append(f"the client lease is still held (token {holder})")
    waiting = queue_length(client.queue)
    if waiting:
        problems.append(f"{waiting} message(s) still waiting in queue {client.queue!r}")
    for message in unacked_messages(client.queue):
        # A dead consumer's message comes back after the visibility timeout: harmless only if
        # what it names is already finished.
        name, args = task_of(message)
        if name == "syncers.load_batch" and SyncBatch.objects.filter(pk=args[0], state="pending").exists():
            problems.append(f"unacknowledged message for pending batch {args[0]}")
        if name == "syncers.run_sync" and SyncRun.objects.filter(pk=args[0], status="queued").exists():
            problems.append(f"unacknowledged message for queued run {args[0]}")
    return problems


# --- Secrets ------------------------------------------------------------------------------


def database_text() -> Iterator[tuple[str, str]]:
    for model in apps.get_models():
        for row in model._default_manager.all().values_list():
            yield model._meta.label, repr(row)


def _canary(client: SyncClient, canary: str, logs: Iterable[Path]) -> list[str]:
    problems = []
    if client.connection.reveal_secret() != canary:
        problems.append("the canary is not the connection's stored secret (test set-up broken)")
    tables = sorted({label for label, text in database_text() if canary in text})
    if tables:
        problems.append(f"canary secret found in table(s) {tables}")
    for path in logs:
        if path.exists() and canary in path.read_text(errors="replace"):
            problems.append(f"canary secret found in log {path.name}")
    if any(canary in text for text in broker_text()):
        problems.append("canary secret found in the broker")
    if settings.REDIS_URL and any(canary in text for text in redis_text(settings.REDIS_URL)):
        problems.append("canary secret found in Redis (REDIS_URL)")
    return problems


def _natural(key: Any) -> tuple[int, str]:
    text = str(key)
    return (int(text), "") if text.isdigit() else (1 << 62, text)


def _few(items: list[Any], n: int = 8) -> str:
    shown = ", ".join(str(i)[:80] for i in items[:n])
    return shown + (f" ... (+{len(items) - n})" if len(items) > n else "")
