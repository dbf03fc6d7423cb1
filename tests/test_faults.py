"""Slow fault scenarios (`make test-faults`): processes stopped, killed and resumed by pid."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from fakeapi.control import FakeApi
from syncers.models import SyncBatch, SyncedRecord, SyncRun
from syncers.selectors import run_wait_final
from syncers.services import sync_run_request

from .processes import TEST_LEASE_TTL, start_worker, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]


def test_a_paused_lease_holder_is_fenced_off_after_another_run_takes_over(api: FakeApi, make_client) -> None:
    api.reset(records=500, page_delay=0.2)
    queue = f"fence-{uuid.uuid4().hex[:6]}"
    client = make_client(queue=queue, batch_size=25)
    frozen = start_worker(queues=queue, concurrency=1)
    first = sync_run_request(client=client, trigger="command", who="first")
    wait_until(lambda: SyncRun.objects.get(pk=first.pk).pages >= 2, timeout=30, what="two pages staged")

    os.killpg(frozen.pid, signal.SIGSTOP)  # the holder stops renewing; its TTL runs out
    time.sleep(TEST_LEASE_TTL + 1)
    api.configure(page_delay=0)
    rescuer = start_worker(queues=queue, concurrency=2)
    try:
        # Our run and the reconciler's recovery run race for the expired lease: one wins.
        second = sync_run_request(client=client, trigger="command", who="second")
        run_wait_final(run_id=second.pk, timeout=60)
        others = SyncRun.objects.filter(client=client).exclude(pk=first.pk)
        wait_until(lambda: all(r.is_final for r in others.all()), timeout=60, what="the takeover to finish")
        outcomes = sorted(others.values_list("status", flat=True))
        assert outcomes.count("succeeded") == 1 and set(outcomes) <= {"succeeded", "skipped_locked"}, outcomes
        assert SyncRun.objects.get(pk=first.pk).status == SyncRun.Status.ABANDONED

        os.killpg(frozen.pid, signal.SIGCONT)  # the old holder wakes up believing it still runs
        wait_until(
            lambda: f"run {first.pk} stopped" in frozen.log(), timeout=30, what="the old run to give up"
        )
        time.sleep(1)
    finally:
        os.killpg(frozen.pid, signal.SIGCONT)
        frozen.stop()
        rescuer.stop()

    client.refresh_from_db()
    assert client.checkpoint is None, "the woken run could not write its stale checkpoint"
    assert SyncRun.objects.get(pk=first.pk).status == SyncRun.Status.ABANDONED
    assert not SyncBatch.objects.filter(state=SyncBatch.State.PENDING).exists()
    stored = dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "data"))
    assert stored == {str(r["id"]): r for r in api.records()}
