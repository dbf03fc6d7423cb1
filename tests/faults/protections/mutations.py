"""The table: for each fault test, the protection it relies on and the mutation that switches
exactly that off (see the package's docstring for how the rows are run)."""

from __future__ import annotations

from dataclasses import dataclass


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
# Not fault tests (they run in `make test`, unmarked), but each defends a promise a row switches off.
SCHEDULE_BOUNDS = "tests/test_schedule_bounds.py::"
RUN_LIMIT_TWO_BEATS = (
    SCHEDULE_BOUNDS
    + "test_an_interval_limited_to_three_runs_fires_exactly_three_times_under_two_beats_then_disables"
)
OTHER_TESTS = (RUN_LIMIT_TWO_BEATS,)

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
BEAT_PY = "syncers/schedules/beat.py"
OFF = "  # PROTECTION OFF"
# With either delivery setting off, check syncers.E002 stops the worker from starting (a first
# defence: xcoresite/startup_checks.py); silenced so the test sees the second one.
SILENCE_DELIVERY_CHECK = ("SILENCED_SYSTEM_CHECKS", "syncers.E002")
DELIVERY_CHECK_NOTE = "check syncers.E002 silenced: otherwise no worker starts with the setting off"

RESEND_OVERDUE = Edit(RECONCILE, "        dispatch_batches(ids, queue)\n", f"        pass{OFF}\n")
ADOPTION_SENDS = Edit(
    RUN,
    "        transaction.on_commit(partial(dispatch_batches, adopted, client.queue))\n",
    f"        pass{OFF}\n",
)
FENCE_CHECK = Edit(FENCE, "    if row is None or row[0] != fence:\n", f"    if row is None:{OFF}\n")
# The page's one statement (stage._STAGE) checks the fence in SQL.
FENCE_CHECK_STAGE = Edit(
    "syncers/pipeline/stage.py",
    "    SELECT 1 FROM f WHERE fence = %(fence)s AND NOT cancel\n",
    "    SELECT 1 FROM f WHERE NOT cancel  -- PROTECTION OFF\n",
)
HEARTBEAT = Edit(
    LEASE_PY,
    "                    if leases().renew(self.name, self.token, self.ttl):\n",
    f"                    if leases().renew(self.name, self.token, self.ttl) or True:{OFF}\n",
)
IDLE_TIMEOUT = Edit(
    FENCE,
    '    return f"SET LOCAL synchronous_commit TO OFF; SET LOCAL idle_in_transaction_session_timeout = {idle_ms}"\n',
    f'    return "SET LOCAL synchronous_commit TO OFF"{OFF}\n',
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
        env=(SILENCE_DELIVERY_CHECK,),
        note=DELIVERY_CHECK_NOTE,
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
        env=(SILENCE_DELIVERY_CHECK,),
        note=DELIVERY_CHECK_NOTE,
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
                "        if not finish_early(\n            run,\n            SyncRun.Status.ABANDONED,\n",
                f"        if True or not finish_early({OFF}\n            run,\n            SyncRun.Status.ABANDONED,\n",
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
        "fence.check_fence (and, for a page, the fence test in stage._STAGE) refuses a write "
        "whose fence number is no longer the client's",
        fails=(PAUSED_FORGOTTEN,),
        edits=(FENCE_CHECK, FENCE_CHECK_STAGE),
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
        edits=(HEARTBEAT, FENCE_CHECK, FENCE_CHECK_STAGE),
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
                "status=SyncRun.Status.RUNNING, fence__lt=run.fence)\n",
                f"status=SyncRun.Status.RUNNING, fence__lt=run.fence, pk__in=[]){OFF}\n",
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
                "    staging = _Staging(run, page, split, batch_size, room, open_batch)\n",
                f"    save_checkpoint(run.client_id, page.checkpoint){OFF}\n"
                "    staging = _Staging(run, page, split, batch_size, room, open_batch)\n",
            ),
            Edit(  # PostgreSQL: the page's one statement leaves the checkpoint alone
                "syncers/pipeline/stage.py",
                "UPDATE syncers_syncclient SET checkpoint = %(checkpoint)s::jsonb, checkpoint_at = %(now)s\n",
                "UPDATE syncers_syncclient SET checkpoint_at = checkpoint_at  -- PROTECTION OFF\n",
            ),
            Edit(  # elsewhere
                "syncers/pipeline/stage.py",
                "    save_checkpoint(run.client_id, page.checkpoint)\n    listed = ",
                "    listed = ",
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
        note="Retiring is the protection; the flush saves a beat that lives past it. Retiring alone "
        "off fails only when beat dies before its next flush, which this test's timing (kill 2 s "
        "after the send) hits about half the time, so both are off for a check that always bites. "
        "(It used to be a probe expected to pass; the 2026-12-05 full run saw it fail.)",
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
                '        cfg["offset_overlap"] = min(DEFAULT_OFFSET_OVERLAP, size // 2) if is_integer(size) else 0\n',
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
                "    max_bytes = settings.SYNC_MAX_RECORD_BYTES\n    path = version_field(config)\n",
                f"    max_bytes = 10**12{OFF}\n    path = version_field(config)\n",
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
    # Schedule bounds (issue 16): a run limit is counted by the worker, not by beat.
    Mutation(
        "schedule-run-count-claim",
        "a schedule with max_runs counts each fire under its row's lock in the worker, and the "
        "fire that reaches the limit disables it (schedule_fires.schedule_fire_claim)",
        fails=(RUN_LIMIT_TWO_BEATS,),
        edits=(
            Edit(
                "syncers/schedules/fires.py",
                '    if bounded["max_runs"] is None:\n        return True\n',
                f"    if True:{OFF}\n        return True\n",
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
