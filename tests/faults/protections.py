"""Each fault test must fail when the protection it tests is switched off (issue 9).

    python -m tests.faults.protections [--only NAME ...] [--test TEXT ...] [--list] [--baseline] [--probes]

For every row of MUTATIONS: export the committed tree (`git archive HEAD`) to a temporary
directory, switch one protection off there (exact text replacements in product files, each of
which must match exactly once, or environment overrides), then run each fault test that relies
on it on its own (`pytest -m slow <node id> -q -x`) and expect it to FAIL; the first `E` line
of pytest's report is kept as evidence. Nothing else is run. The table goes to stdout and to
var/protections.md, pytest's full output to var/protections/<row>.log.

A promise defended twice (say a lost message re-sent both by the reconciler and by the next
run's adoption) gets one mutation that switches both defences off, and a note saying so.
`--probes` also runs the documented single-defence mutations, expected to keep passing, which
is how "defended twice" was established; `--baseline` first runs every selected test on the
unmutated tree, which must pass for a failure under mutation to mean anything.

Resources come from the environment, as for `make test-faults` (DATABASE_URL, CELERY_BROKER_URL,
REDIS_URL); every test gets its own XCORESITE_VAR_DIR under $XCORESITE_VAR_DIR (or a temporary
folder). Before each test it waits (five minutes at most) while someone else's `pytest ... slow`
is running, so a loaded machine does not pass for a caught breach.

Exit status: 0 when every test failed with its protection off (and, with --baseline, passed
without the mutation); 1 when one did not; 2 when a row could not be checked (the code a
mutation names has moved, a node id is gone, a test errored, was skipped or timed out) or, on
a full run, when a fault test has no row and no NO_PROTECTION entry. A new fault test needs
one more Mutation (or one more node id in an existing one's `fails`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "var" / "protections.md"
LOG_DIR = ROOT / "var" / "protections"
RUN_TIMEOUT = 20 * 60  # one test; the slowest fault test's waits add up to well under this
WAIT_FOR_OTHERS = 5 * 60  # then run anyway (and say so in the table)


@dataclass(frozen=True)
class Edit:
    """Replace `old` (which must occur exactly once) by `new` in the product file `path`."""

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutation:
    name: str
    protection: str  # what is switched off, in words
    fails: tuple[str, ...]  # node ids that must FAIL with it
    edits: tuple[Edit, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # environment overrides for the test and its processes
    passes: tuple[str, ...] = ()  # node ids expected to keep passing (--probes; the baseline)
    note: str = ""


# --- The fault tests (node ids) -----------------------------------------------------------
WORKERS = "tests/faults/test_workers.py::"
POOL_CHILD_KILLED = (
    WORKERS + "test_a_pool_child_killed_in_the_middle_of_a_batch_is_redelivered_and_loaded_once"
)
WORKER_KILLED = WORKERS + "test_a_worker_killed_with_batches_in_flight_loses_nothing"
WARM_SHUTDOWN = WORKERS + "test_a_warm_shutdown_during_a_run_finishes_what_it_started_and_loses_nothing"
BROKER = "tests/faults/test_broker.py::"
VISIBILITY = BROKER + "test_a_batch_outliving_the_visibility_timeout_is_delivered_again_and_merged_once"
BROKER_GONE = BROKER + "test_broker_gone_half_way_through_dispatch_and_back_empty_10s_later_loses_nothing"
REDIS_RESTARTED = BROKER + "test_redis_restarted_while_batches_load_loses_nothing"
DATABASE_CRASH = (
    "tests/faults/test_database.py::test_postgres_crash_and_restart_mid_run_loses_and_doubles_nothing"
)
LEASE = "tests/faults/test_lease.py::"
PAUSED = LEASE + "test_a_paused_lease_holder_is_fenced_off_after_another_run_takes_over"
PAUSED_HONEST = PAUSED + "[honest]"
PAUSED_FORGOTTEN = PAUSED + "[forgets_the_takeover]"
HOLDER_KILLED = LEASE + "test_a_killed_lease_holder_is_replaced_within_ttl_plus_one_interval"
LOADER_FROZEN = LEASE + "test_a_batch_loader_frozen_mid_merge_does_not_block_the_next_run"
CHECKPOINTS = "tests/faults/test_checkpoints.py::"
BETWEEN_PAGES = CHECKPOINTS + "test_a_run_killed_between_pages_resumes_at_the_checkpoint_without_refetching"
TIE_ACROSS_PAGES = (
    CHECKPOINTS + "test_records_sharing_an_updated_at_across_a_page_boundary_survive_a_crash_after_page_one"
)
BEAT = "tests/faults/test_beat.py::"
TWO_BEATS = (
    BEAT + "test_two_beats_at_once_fire_a_schedule_once_and_the_duplicate_is_skipped_on_the_lease[configured]"
)
BEAT_KILLED = BEAT + "test_a_beat_killed_seconds_after_sending_a_one_shot_does_not_send_it_again[configured]"
BEAT_DOWN = BEAT + "test_a_beat_down_for_hours_catches_up_once_per_schedule_not_in_a_burst[configured]"

SOURCE = "tests/faults/test_source_changes.py::"
OFFSET_SHIFTS = (
    SOURCE + "test_records_inserted_and_deleted_between_page_fetches_are_not_missed_or_doubled[with-overlap]"
)
OFFSET_SHIFTS_UNPROTECTED = (
    SOURCE + "test_records_inserted_and_deleted_between_page_fetches_are_not_missed_or_doubled[overlap-off]"
)
POISON = SOURCE + "test_poison_records_are_set_aside_and_the_rest_of_their_batches_loads"
SCHEDULES = "tests/faults/test_schedule_changes.py::"
DST = SCHEDULES + "test_a_0230_berlin_cron_runs_once_a_local_day_across_a_dst_change"
DST_SPRING, DST_AUTUMN = DST + "[spring]", DST + "[autumn]"
EDITS_UNDER_BEAT = (
    SCHEDULES
    + "test_edits_and_disabling_reach_a_running_beat_within_two_ticks_and_a_paused_client_makes_no_request"
)

FAULT_TESTS = (
    *(POOL_CHILD_KILLED, WORKER_KILLED, WARM_SHUTDOWN, VISIBILITY, BROKER_GONE, REDIS_RESTARTED),
    *(DATABASE_CRASH, PAUSED_HONEST, PAUSED_FORGOTTEN, HOLDER_KILLED, LOADER_FROZEN),
    *(BETWEEN_PAGES, TIE_ACROSS_PAGES, TWO_BEATS, BEAT_KILLED, BEAT_DOWN),
    *(OFFSET_SHIFTS, POISON, DST_SPRING, DST_AUTUMN, EDITS_UNDER_BEAT),
)

# --- The edits (each switches one defence off) -------------------------------------------
SETTINGS = "xcoresite/settings.py"
RECONCILE = "syncers/pipeline/reconcile.py"
RUN = "syncers/pipeline/run.py"
FENCE = "syncers/pipeline/fence.py"
LEASE_PY = "syncers/pipeline/lease.py"
BEAT_PY = "syncers/beat.py"
OFF = "  # PROTECTION OFF"

RESEND_OVERDUE = Edit(RECONCILE, "        dispatch_batches(ids, queue)\n", f"        pass{OFF}\n")
ADOPTION_SENDS = Edit(
    RUN,
    "        transaction.on_commit(partial(dispatch_batches, adopted, client.queue))\n",
    f"        pass{OFF}\n",
)
FENCE_CHECK = Edit(FENCE, "    if row is None or row[0] != fence:\n", f"    if row is None:{OFF}\n")
HEARTBEAT = Edit(
    LEASE_PY,
    "                    if leases().renew(self.name, self.token, self.ttl):\n",
    f"                    if leases().renew(self.name, self.token, self.ttl) or True:{OFF}\n",
)
IDLE_TIMEOUT = Edit(
    FENCE,
    '                "SET LOCAL synchronous_commit TO OFF;"\n'
    '                f" SET LOCAL idle_in_transaction_session_timeout = {idle_ms}"\n',
    f'                "SET LOCAL synchronous_commit TO OFF"{OFF}\n',
)
RETIRE_ONE_OFF = Edit(
    BEAT_PY, "                self._retire.append(entry.model.pk)\n", f"                pass{OFF}\n"
)
FLUSH_EVERY = Edit(
    BEAT_PY,
    "    flush_every = 5.0  # seconds of run bookkeeping a crash may lose\n",
    f"    flush_every = 3600.0{OFF}\n",
)
ADVANCE_TO_NOW = Edit(
    BEAT_PY,
    "        new_entry = entry.advance(entry._default_now())\n",
    f"        new_entry = entry.advance(entry.last_run_at){OFF}\n",
)
NEXT_LOOK_AT_NEXT_TIME = Edit(
    BEAT_PY,
    "                heapq.heappush(heap, event_t(self._when(next_entry, next_check), 5, next_entry))\n",
    f"                self._push(next_entry){OFF}\n",
)

MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "none",
        "nothing: the committed tree as it is (--baseline)",
        fails=(),
        passes=FAULT_TESTS,
    ),
    # Fault 1: a pool child killed mid-batch. The test runs no reconciler, so Celery alone
    # must put the message back; either setting off loses it.
    Mutation(
        "acks-late",
        "CELERY_TASK_ACKS_LATE: a message is acknowledged after its task, not when it starts",
        fails=(POOL_CHILD_KILLED,),
        edits=(Edit(SETTINGS, "CELERY_TASK_ACKS_LATE = True\n", f"CELERY_TASK_ACKS_LATE = False{OFF}\n"),),
    ),
    Mutation(
        "reject-on-worker-lost",
        "CELERY_TASK_REJECT_ON_WORKER_LOST: a task whose process died goes back to the queue",
        fails=(POOL_CHILD_KILLED,),
        edits=(
            Edit(
                SETTINGS,
                "CELERY_TASK_REJECT_ON_WORKER_LOST = True\n",
                f"CELERY_TASK_REJECT_ON_WORKER_LOST = False{OFF}\n",
            ),
        ),
    ),
    # Fault 5: SIGTERM must stay Celery's warm shutdown (no product code; the deploy contract).
    Mutation(
        "warm-shutdown",
        "SIGTERM is Celery's warm shutdown: running tasks finish, unstarted messages go back "
        "(no product code: the deploy contract; REMAP_SIGTERM=SIGQUIT makes it a cold one)",
        fails=(WARM_SHUTDOWN,),
        env=(("REMAP_SIGTERM", "SIGQUIT"),),
    ),
    # Faults 1 (power loss), 3, 4: a message the broker lost is sent again from the database.
    # Fault 3's "broker gone" run fails its fetch but waits for its batches, so only the
    # reconciler can send them; after a power loss or a database crash a recovery run adopts them.
    Mutation(
        "resend-overdue",
        "the reconciler re-sends pending batches not loaded in time (reconcile._overdue_batches)",
        fails=(REDIS_RESTARTED, BROKER_GONE),
        edits=(RESEND_OVERDUE,),
        passes=(WORKER_KILLED, DATABASE_CRASH),
        note="Alone it breaks the scenarios where no new run starts before the lost batches are "
        "needed; where a recovery run starts, that run adopts them and sends them again (see "
        "resend-overdue+adoption).",
    ),
    Mutation(
        "resend-overdue+adoption",
        "both ways a lost batch message is sent again: the reconciler's re-send of overdue "
        "batches and a new run's sending of the batches it adopts (run._start)",
        fails=(WORKER_KILLED, DATABASE_CRASH),
        edits=(RESEND_OVERDUE, ADOPTION_SENDS),
        note="Defended twice: fails only with both off (--probes runs resend-overdue alone).",
    ),
    # Faults 1, 4, 8: a run whose process died is abandoned once its lease ran out.
    Mutation(
        "abandon-expired-lease",
        "the reconciler abandons a fetching run whose lease expired and starts a recovery run "
        "from the checkpoint (reconcile._check_running)",
        fails=(WORKER_KILLED, DATABASE_CRASH, HOLDER_KILLED),
        edits=(
            Edit(
                RECONCILE,
                "        if not SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(\n",
                f"        if True or not SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update({OFF}\n",
            ),
        ),
    ),
    # Fault 3 (Redis restarted while loading): the lease is gone with Redis, the run is not.
    Mutation(
        "loading-run-not-abandoned",
        "a run with only loading left is finished by its re-sent batches, not abandoned when its "
        "lease vanishes (reconcile._check_running, the fetch_done branch)",
        fails=(REDIS_RESTARTED,),
        edits=(
            Edit(
                RECONCILE,
                "        if run.fetch_done:\n            # Only loading is left",
                f"        if False:{OFF}\n            # Only loading is left",
            ),
        ),
    ),
    # Fault 2: a batch delivered twice is merged once.
    Mutation(
        "load-pending-filter",
        "load_batch only takes a batch that is still pending (a second delivery finds it done)",
        fails=(VISIBILITY,),
        edits=(
            Edit(
                "syncers/pipeline/load.py",
                ".filter(pk=batch_id, state=SyncBatch.State.PENDING)",
                ".filter(pk=batch_id)",
            ),
        ),
    ),
    Mutation(
        "load-row-lock",
        "load_batch locks the batch row (select_for_update), so a second delivery waits for the "
        "first merge to commit and then finds the batch done",
        fails=(VISIBILITY,),
        edits=(
            Edit(
                "syncers/pipeline/load.py",
                '            SyncBatch.objects.select_for_update(of=("self",))\n',
                f"            SyncBatch.objects{OFF}\n",
            ),
        ),
    ),
    # Fault 7: a holder that wakes up after losing its lease cannot write.
    Mutation(
        "fence",
        "fence.check_fence refuses a write whose fence number is no longer the client's",
        fails=(PAUSED_FORGOTTEN,),
        edits=(FENCE_CHECK,),
        passes=(PAUSED_HONEST,),
        note="With an honest lease store the woken run is also stopped by its heartbeat "
        "(see heartbeat+fence).",
    ),
    Mutation(
        "heartbeat",
        "the heartbeat notices a lost lease and the run stops before its next page",
        fails=(),
        edits=(HEARTBEAT,),
        passes=(PAUSED_HONEST,),
        note="Probe only: the fence stops the woken run anyway.",
    ),
    Mutation(
        "heartbeat+fence",
        "both checks that stop a woken holder: its heartbeat (lease lost) and the fence",
        fails=(PAUSED_HONEST,),
        edits=(HEARTBEAT, FENCE_CHECK),
        note="Defended twice: fails only with both off (--probes runs each alone).",
    ),
    Mutation(
        "idle-in-transaction-timeout",
        "fence.relax_commit sets idle_in_transaction_session_timeout "
        "(SYNC_IDLE_TRANSACTION_TIMEOUT), so PostgreSQL ends a frozen loader's transaction and its "
        "lock on the client row",
        fails=(LOADER_FROZEN,),
        edits=(IDLE_TIMEOUT,),
    ),
    # Faults 9, 10 (and 8): resume, don't restart.
    Mutation(
        "resume-at-checkpoint",
        "a run starts at the committed checkpoint's page (pagination.PageNumber.start)",
        fails=(BETWEEN_PAGES, TIE_ACROSS_PAGES, HOLDER_KILLED),
        edits=(
            Edit(
                "syncers/handlers/pagination.py",
                '        number = int(checkpoint.get("next_page", cfg["start_page"]))\n',
                f'        number = int(cfg["start_page"]){OFF}\n',
            ),
        ),
    ),
    Mutation(
        "supersede-dead-run",
        "a new run that takes the lease marks the earlier running run abandoned (run._start)",
        fails=(BETWEEN_PAGES,),
        edits=(
            Edit(
                RUN,
                "status=SyncRun.Status.RUNNING, fence__lt=run.fence).update(",
                "status=SyncRun.Status.RUNNING, fence__lt=run.fence, pk__in=[]).update(",
            ),
        ),
    ),
    Mutation(
        "checkpoint-with-its-page",
        "a page's batches and the checkpoint after it commit in one transaction "
        "(stage.stage_page); off, the checkpoint commits on its own, before the page",
        fails=(BETWEEN_PAGES,),
        edits=(
            Edit(
                "syncers/pipeline/stage.py",
                "    with fenced(run.client_id, run.fence):\n        batches = build_batches(",
                f"    save_checkpoint(run.client_id, page.checkpoint){OFF}\n"
                "    with fenced(run.client_id, run.fence):\n        batches = build_batches(",
            ),
            Edit(
                "syncers/pipeline/stage.py",
                "        save_checkpoint(run.client_id, page.checkpoint)\n        SyncRun.objects",
                "        SyncRun.objects",
            ),
        ),
    ),
    Mutation(
        "incremental-run-filter",
        "a resumed incremental run keeps the filter its run started with (the checkpoint's "
        "updated_since), not the greatest timestamp seen so far",
        fails=(TIE_ACROSS_PAGES,),
        edits=(
            Edit(
                "syncers/handlers/incremental.py",
                "        self.since: Any = checkpoint.get(SINCE_KEY)\n",
                f"        self.since: Any = checkpoint.get(MAX_KEY, checkpoint.get(SINCE_KEY)){OFF}\n",
            ),
        ),
    ),
    Mutation(
        "incremental-inclusive-cursor",
        "the next cursor is the greatest timestamp seen, read again inclusively (ties re-read, "
        "de-duplicated by the load); off, the cursor is one second past it",
        fails=(TIE_ACROSS_PAGES,),
        edits=(
            Edit(
                "syncers/handlers/incremental.py",
                '        return {SINCE_KEY: shifted(last[MAX_KEY], options["lookback_seconds"])}\n',
                f'        return {{SINCE_KEY: shifted(last[MAX_KEY], options["lookback_seconds"] - 1)}}{OFF}\n',
            ),
        ),
    ),
    # Fault 6: beat.
    Mutation(
        "lease-exclusive",
        "a lease is taken only if nobody holds it (Redis SET NX; the database upsert only over "
        "an expired row)",
        fails=(TWO_BEATS,),
        edits=(
            Edit(LEASE_PY, "token, nx=True, px=", "token, nx=False, px="),
            Edit(
                LEASE_PY,
                '"WHERE syncers_lease.expires_at < %s RETURNING token"',
                '"WHERE syncers_lease.expires_at < %s OR TRUE RETURNING token"',
            ),
        ),
    ),
    Mutation(
        "beat-retires-one-offs+flush",
        "both ways a sent one-off's state reaches the database: SyncScheduler disables it in the "
        "tick that sends it, and its bookkeeping flush (every 5 s) writes total_run_count, which "
        "stock ModelEntry.is_due reads as 'already ran'",
        fails=(BEAT_KILLED,),
        edits=(RETIRE_ONE_OFF, FLUSH_EVERY),
        note="Defended twice: fails only with both off. Retiring alone off fails only when beat dies "
        "before its next flush, which this test's timing (kill 2 s after the send) hits about half "
        "the time (--probes runs it).",
    ),
    Mutation(
        "beat-retires-one-offs",
        "SyncScheduler disables a one-off in the database in the tick that sends it",
        fails=(),
        edits=(RETIRE_ONE_OFF,),
        passes=(BEAT_KILLED,),
        note="Probe only, and timing-dependent: passes when the flush lands before the kill.",
    ),
    Mutation(
        "beat-advances-to-now+next-look",
        "catching up once: a sent entry's last_run_at moves to the send time, and its next look "
        "is at the schedule's next time (SyncScheduler.reserve, _send_due)",
        fails=(BEAT_DOWN,),
        edits=(ADVANCE_TO_NOW, NEXT_LOOK_AT_NEXT_TIME),
        note="Defended twice: fails only with both off (--probes runs each alone).",
    ),
    Mutation(
        "beat-advances-to-now",
        "a sent entry's last_run_at moves to the send time (SyncScheduler.reserve)",
        fails=(),
        edits=(ADVANCE_TO_NOW,),
        passes=(BEAT_DOWN,),
        note="Probe only: the next look is still an hour (or half an hour) away.",
    ),
    Mutation(
        "beat-next-look",
        "a sent entry's next look is at the schedule's next time (SyncScheduler._send_due)",
        fails=(),
        edits=(NEXT_LOOK_AT_NEXT_TIME,),
        passes=(BEAT_DOWN,),
        note="Probe only: last_run_at moved to now, so the entry is not due again.",
    ),
)


MUTATIONS += (
    # Fault 11: offset pagination re-reads an overlap and anchors on the last ids read.
    Mutation(
        "offset-overlap",
        "offset pagination's default overlap with anchors (handlers.options); off, each request "
        "starts where the last one ended",
        fails=(OFFSET_SHIFTS,),
        edits=(
            Edit(
                "syncers/handlers/options.py",
                '        cfg["offset_overlap"] = min(DEFAULT_OFFSET_OVERLAP, size // 2) if _integer(size) else 0\n',
                f'        cfg["offset_overlap"] = 0{OFF}\n',
            ),
        ),
    ),
    # Fault 12: a poison record is kept aside with its reason; the rest of its batch loads.
    Mutation(
        "record-size-limit",
        "SYNC_MAX_RECORD_BYTES: a record over the limit is kept as failed, not loaded",
        fails=(POISON,),
        edits=(
            Edit(
                "syncers/pipeline/load.py",
                "    max_bytes = settings.SYNC_MAX_RECORD_BYTES\n    if connection.vendor",
                f"    max_bytes = 10**12{OFF}\n    if connection.vendor",
            ),
        ),
    ),
    Mutation(
        "no-id-kept-as-failed",
        "the in-database merge keeps a record without a usable id as a failed record",
        fails=(POISON,),
        edits=(
            Edit(
                "syncers/pipeline/merge.py",
                "    FROM src WHERE coalesce(eid, '') = '' OR length(eid) > 255",
                "    FROM src WHERE length(eid) > 255",
            ),
        ),
    ),
    # Fault 13: a cron whose last run is inside the repeated autumn hour.
    Mutation(
        "repeat-safe-crontab",
        "SyncEntry's RepeatSafeCrontab: a cron's next run is never at or before its last run "
        "(Celery's crontab loses the fold in the repeated autumn hour)",
        fails=(DST_AUTUMN,),
        edits=(
            Edit(
                BEAT_PY,
                "            self.schedule = RepeatSafeCrontab.like(self.schedule)\n",
                f"            pass{OFF}\n",
            ),
        ),
        passes=(DST_SPRING,),
        note="Spring needs no protection (02:30 does not exist; Celery's crontab fires at 03:30).",
    ),
    # Fault 14: edits reach a running beat; a paused client makes no request.
    Mutation(
        "beat-change-polling",
        "SyncScheduler polls django-celery-beat's change marker and reloads changed rows",
        fails=(EDITS_UNDER_BEAT,),
        edits=(
            Edit(
                BEAT_PY,
                "    def _poll(self) -> None:\n        mono = time.monotonic()\n",
                f"    def _poll(self) -> None:\n        return{OFF}\n        mono = time.monotonic()\n",
            ),
        ),
    ),
    Mutation(
        "paused-client-skipped",
        "a paused client's runs end skipped_paused before any request (SyncClient.may_run)",
        fails=(EDITS_UNDER_BEAT,),
        edits=(
            Edit(
                "syncers/models/clients.py",
                "        if self.connection.is_paused:\n            return False\n",
                f"        return True{OFF}\n",
            ),
        ),
    ),
)

# Fault tests with nothing of ours to switch off, and why. A full run needs a row or an entry
# here for every fault test.
NO_PROTECTION = {
    DST_SPRING: "02:30 does not exist that night and Celery's crontab fires at 03:30 CEST "
    "unaided; repeat-safe-crontab runs it as a probe",
    OFFSET_SHIFTS_UNPROTECTED: "runs with the protection already off (offset_overlap 0) and "
    "asserts the records that misses: the with-overlap case's control",
}


# --- Running ----------------------------------------------------------------------------
@dataclass
class Row:
    mutation: Mutation
    test: str
    expect: str  # "fail" or "pass"
    result: str = ""  # FAILED, PASSED, ERROR, SKIPPED, TIMEOUT, BASELINE
    evidence: str = ""
    seconds: float = 0.0
    waited: str = ""  # who we waited for, or that we gave up waiting
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.result == ("FAILED" if self.expect == "fail" else "PASSED")

    @property
    def verdict(self) -> str:
        if self.result in ("FAILED", "PASSED"):
            if self.ok:
                return "failed as expected" if self.expect == "fail" else "passed as expected"
            return "STILL PASSES" if self.expect == "fail" else "FAILED UNEXPECTEDLY"
        if self.result == "BASELINE":
            return "NOT CHECKED (baseline fails)"
        return f"NOT CHECKED ({self.result.lower()})"


@dataclass
class Report:
    commit: str
    rows: list[Row] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    dirty: bool = False
    uncovered: list[str] = field(default_factory=list)  # fault tests no mutation expects to fail


class Drift(Exception):
    """A mutation's text is not found exactly once: the code it names has moved."""


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def export_head(dest: Path) -> None:
    """The committed tree, without uncommitted changes or untracked files."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def apply(mutation: Mutation, tree: Path) -> None:
    for edit in mutation.edits:
        path = tree / edit.path
        text = path.read_text()
        found = text.count(edit.old)
        if found != 1:
            raise Drift(f"{mutation.name}: {edit.path} has {found} matches (not 1) for {edit.old!r}")
        path.write_text(text.replace(edit.old, edit.new))


def check_drift(mutations: list[Mutation], pristine: Path) -> dict[str, str]:
    """Mutation name -> why it no longer applies to the committed tree."""
    problems = {}
    for mutation in mutations:
        scratch = Path(tempfile.mkdtemp(prefix="protections-drift-"))
        try:
            for edit in mutation.edits:
                target = scratch / edit.path
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    shutil.copy2(pristine / edit.path, target)
            apply(mutation, scratch)
            for edit in mutation.edits:  # a mutation must not break the file it edits
                compile((scratch / edit.path).read_text(), edit.path, "exec")
        except (Drift, FileNotFoundError, SyntaxError) as exc:
            problems[mutation.name] = str(exc)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return problems


def fault_tests(tree: Path) -> set[str]:
    """Every node id of the fault suite in `tree` (one missing node id would make pytest
    collect nothing, so the whole folder is collected)."""
    with tempfile.TemporaryDirectory(prefix="protections-collect-") as var_dir:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow", "tests/faults"],
            cwd=tree,
            env=child_env(Path(var_dir)),
            capture_output=True,
            text=True,
        )
    return {line for line in result.stdout.split() if line.startswith("tests/faults/") and "::" in line}


def child_env(var_dir: Path, extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the copy's code, nothing else
    env["XCORESITE_VAR_DIR"] = str(var_dir)
    env.update(dict(extra))
    return env


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _mine(pid: int) -> bool:
    """`pid` is this process or one of its descendants."""
    seen = 0
    while pid > 1 and seen < 64:
        if pid == os.getpid():
            return True
        pid, seen = _ppid(pid), seen + 1
    return False


def others_running_slow_tests() -> list[str]:
    out = subprocess.run(["pgrep", "-af", "pytest.*slow"], capture_output=True, text=True).stdout
    busy = []
    for line in out.splitlines():
        pid, _, cmd = line.partition(" ")
        if pid.isdigit() and not _mine(int(pid)) and "not slow" not in cmd:
            busy.append(line)
    return busy


def wait_for_turn() -> str:
    """Wait while someone else's slow tests run (timings decide some faults); give up after
    WAIT_FOR_OTHERS. Returns what happened, for the table."""
    start = time.monotonic()
    busy = others_running_slow_tests()
    if not busy:
        return ""
    say(f"  waiting for {len(busy)} other slow test process(es): {busy[0][:120]}")
    while busy and time.monotonic() - start < WAIT_FOR_OTHERS:
        time.sleep(5)
        busy = others_running_slow_tests()
    waited = time.monotonic() - start
    if busy:
        say(f"  gave up waiting after {waited:.0f}s; running alongside: {busy[0][:120]}")
        return f"ran alongside other slow tests (waited {waited:.0f}s)"
    return f"waited {waited:.0f}s for other slow tests"


def kill_leftovers(var_dir: Path) -> None:
    """Processes a killed pytest left behind (workers run in sessions of their own): ours are
    exactly those whose environment names this row's var dir. Killed by pid."""
    marker = f"XCORESITE_VAR_DIR={var_dir}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGCONT)
                os.kill(int(proc.name), signal.SIGKILL)


SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b")


def run_test(row: Row, tree: Path, var_base: Path) -> None:
    var_dir = var_base / slug(row)
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    row.log = LOG_DIR / f"{slug(row)}.log"
    row.waited = wait_for_turn()
    cmd = [sys.executable, "-m", "pytest", "-m", "slow", row.test, "-q", "-x", "-rs"]
    start = time.monotonic()
    with row.log.open("w") as out:
        out.write(f"$ {' '.join(cmd)}\n# in {tree}\n")
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=tree,
            env=child_env(var_dir, row.mutation.env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a timeout can end pytest and its children by group
        )
        try:
            proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            row.result = "TIMEOUT"
    kill_leftovers(var_dir)
    row.seconds = time.monotonic() - start
    text = row.log.read_text(errors="replace")
    counts = outcome_counts(text)
    if not row.result:
        if counts.get("error") or counts.get("xfailed") or counts.get("xpassed"):
            row.result = "ERROR"
        elif counts.get("failed"):
            row.result = "FAILED"
        elif counts.get("skipped"):
            row.result = "SKIPPED"
        elif counts.get("passed"):
            row.result = "PASSED"
        else:
            row.result = "ERROR"
    row.evidence = evidence(text, row.result)
    # var_dir stays until this row runs again: its logs/ hold the workers' and beat's output.


def outcome_counts(text: str) -> dict[str, int]:
    """{"failed": 1, ...} from pytest's closing summary line ("1 failed, 2 warnings in 80.1s")."""
    for line in reversed(text.splitlines()):
        found = SUMMARY.findall(line)
        if found and re.search(r" in [\d.]+s", line):
            return {kind.removesuffix("s") if kind == "errors" else kind: int(n) for n, kind in found}
    return {}


def evidence(text: str, result: str) -> str:
    """The first assertion line pytest printed (`E ...`), or why the test did not run."""
    lines = text.splitlines()
    if result == "SKIPPED":
        return next((line for line in lines if line.startswith("SKIPPED")), "skipped")
    if result == "TIMEOUT":
        return f"no result after {RUN_TIMEOUT}s"
    found = next((line for line in lines if re.match(r"E\s+\S", line)), "")
    return re.sub(r"\s+", " ", found[1:]).strip() if found else ""


def short(node_id: str) -> str:
    """tests/faults/test_workers.py::test_a_pool_child... -> workers.a_pool_child..."""
    module, _, name = node_id.partition("::")
    return f"{Path(module).stem.removeprefix('test_')}.{name.removeprefix('test_')}"


def slug(row: Row) -> str:
    """A file name for the row (no brackets: they are shell globs)."""
    return re.sub(r"[^A-Za-z0-9_.+\-]", "_", f"{row.mutation.name}--{short(row.test)}".rstrip("]"))[:150]


# --- Reporting --------------------------------------------------------------------------
def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def resources() -> str:
    def shown(key: str, default: str) -> str:
        value = os.environ.get(key)
        if not value:
            return default
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"

    return (
        f"database {shown('DATABASE_URL', 'SQLite (embedded)')}, broker "
        f"{shown('CELERY_BROKER_URL', 'filesystem (embedded)')}, leases {shown('REDIS_URL', 'database')}"
    )


def write_markdown(report: Report, total: bool = False) -> None:
    elapsed = time.monotonic() - report.started
    lines = [
        "# Fault tests with their protection switched off",
        "",
        f"`python -m tests.faults.protections` on commit {report.commit[:12]}"
        + (" (the working tree had uncommitted changes; they were NOT tested)" if report.dirty else "")
        + f", {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {resources()}. "
        + (
            f"Total run time {elapsed / 60:.1f} min."
            if total
            else f"Running ({elapsed / 60:.1f} min so far)."
        ),
        "",
        "A row checks out when the test FAILS with the mutation applied (baseline and probe rows: "
        "when it passes). Evidence: the first `E` line of pytest's report; full output in "
        "`var/protections/<mutation>--<test>.log`.",
        "",
        "| Mutation | Protection switched off | Where | Test | Expect | Result | Evidence | Time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report.rows:
        evidence_text = row.evidence + (f" ({row.waited})" if row.waited else "")
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    f"`{row.mutation.name}`",
                    row.mutation.protection + (f" *{row.mutation.note}*" if row.mutation.note else ""),
                    where(row.mutation),
                    f"`{short(row.test)}`",
                    row.expect,
                    row.verdict if row.result else "…",
                    _clip(evidence_text, 300),
                    f"{row.seconds:.0f}s" if row.result else "",
                )
            )
            + " |"
        )
    lines += ["", "Fault tests with nothing to switch off:", ""]
    lines += [f"- `{short(node)}`: {why}" for node, why in NO_PROTECTION.items()]
    if report.uncovered:
        lines += ["", "Fault tests no mutation expects to fail (add a row to MUTATIONS):", ""]
        lines += [f"- `{node}`" for node in report.uncovered]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")


def where(mutation: Mutation) -> str:
    """What the mutation touches: the files it edits, the environment it sets."""
    places = list(dict.fromkeys(f"`{e.path}`" for e in mutation.edits))
    places += [f"`{k}={v}`" for k, v in mutation.env]
    return ", ".join(places) or "nothing"


def print_table(report: Report) -> None:
    say("")
    say(f"{'mutation':32} {'test':58} {'result':22} evidence")
    for row in report.rows:
        say(
            f"{row.mutation.name:32} {_clip(short(row.test), 58):58} {row.verdict:22} {_clip(row.evidence, 140)}"
        )
    say(f"\ntotal {(time.monotonic() - report.started) / 60:.1f} min; table in {REPORT.relative_to(ROOT)}")


def list_mutations(selected: list[Mutation], pristine: Path | None) -> None:
    drift = check_drift(selected, pristine) if pristine is not None else {}
    for m in selected:
        state = f"DRIFT: {drift[m.name]}" if m.name in drift else "applies"
        say(f"{m.name}  [{state}]\n  off: {m.protection}")
        for test in m.fails:
            say(f"  must fail: {short(test)}")
        for test in m.passes:
            say(f"  keeps passing: {short(test)}")
        if m.note:
            say(f"  note: {m.note}")


# --- Entry point ------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults.protections",
        description="Check that each fault test fails with its protection switched off.",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these mutations only (see --list)")
    parser.add_argument("--test", nargs="+", metavar="TEXT", help="only node ids containing one of these")
    parser.add_argument("--list", action="store_true", help="list the mutations (and check they apply)")
    parser.add_argument("--baseline", action="store_true", help="first run every selected test unmutated")
    parser.add_argument("--probes", action="store_true", help="also run the single-defence probes")
    return parser.parse_args(argv)


def select(args: argparse.Namespace) -> list[Row]:
    rows = _select(args)
    if args.test:
        rows = [r for r in rows if any(text in r.test for text in args.test)]
    return rows


def _select(args: argparse.Namespace) -> list[Row]:
    by_name = {m.name: m for m in MUTATIONS}
    if args.only:
        unknown = [n for n in args.only if n not in by_name]
        if unknown:
            raise SystemExit(f"unknown mutation(s) {unknown}; known: {', '.join(by_name)}")
        chosen = [m for m in MUTATIONS if m.name in args.only]  # the baseline ("none") first
        return [Row(m, t, "pass" if t in m.passes else "fail") for m in chosen for t in m.fails + m.passes]
    rows = [Row(m, t, "fail") for m in MUTATIONS for t in m.fails]
    if args.probes:
        rows += [Row(m, t, "pass") for m in MUTATIONS if m.name != "none" for t in m.passes]
    if args.baseline:
        wanted = {r.test for r in rows}
        rows = [Row(by_name["none"], t, "pass") for t in FAULT_TESTS if t in wanted] + rows
    return rows


@contextlib.contextmanager
def exported_head() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="protections-head-"))
    try:
        export_head(folder)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report(commit=git("rev-parse", "HEAD").strip(), dirty=bool(git("status", "--porcelain").strip()))
    with exported_head() as pristine:
        if args.list:
            list_mutations([m for m in MUTATIONS if not args.only or m.name in args.only], pristine)
            return 0
        rows = select(args)
        mutations = list(dict.fromkeys(r.mutation for r in rows))
        drift = check_drift(mutations, pristine)
        suite = fault_tests(pristine)
        gone = sorted(({r.test for r in rows} | set(NO_PROTECTION)) - suite)
        report.uncovered = sorted(suite - {t for m in MUTATIONS for t in m.fails} - set(NO_PROTECTION))
        if drift or gone:
            for problem in drift.values():
                say(f"DRIFT (the code moved; update the mutation): {problem}")
            for node in gone:
                say(f"NO SUCH TEST: {node}")
            return 2
        if report.dirty:
            say("warning: uncommitted changes are not tested; the copies are of HEAD")
        for node in report.uncovered:
            say(f"warning: no mutation expects this fault test to fail: {node}")
        var_base = Path(os.environ.get("XCORESITE_VAR_DIR") or tempfile.gettempdir() + "/protections-var")
        say(f"{len(rows)} run(s) of {len(mutations)} mutation(s) on {report.commit[:12]}; {resources()}")
        report.rows = rows
        broken: set[str] = set()  # tests the baseline (run first, with --baseline) saw fail
        for mutation in mutations:
            tree = Path(tempfile.mkdtemp(prefix=f"protections-{mutation.name}-"))
            try:
                shutil.copytree(pristine, tree, dirs_exist_ok=True)
                apply(mutation, tree)
                for row in (r for r in rows if r.mutation is mutation):
                    if row.test in broken and mutation.name != "none":
                        row.result, row.evidence = "BASELINE", "fails without the mutation too"
                        continue
                    say(f"{mutation.name}: {short(row.test)} (expect {row.expect}) ...")
                    run_test(row, tree, var_base)
                    if mutation.name == "none" and not row.ok:
                        broken.add(row.test)  # a failure under mutation would mean nothing
                    say(f"  {row.verdict} in {row.seconds:.0f}s: {_clip(row.evidence, 160)}")
                    write_markdown(report)
            finally:
                shutil.rmtree(tree, ignore_errors=True)
    write_markdown(report, total=True)
    print_table(report)
    probes = [r for r in rows if r.expect == "pass" and r.mutation.name != "none"]
    checks = [r for r in rows if r not in probes]
    if any(r.result in ("FAILED", "PASSED") and not r.ok for r in checks):
        return 1
    if any(r.result not in ("FAILED", "PASSED") for r in checks):
        return 2
    if report.uncovered and not (args.only or args.test):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
