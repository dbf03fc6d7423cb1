"""What an operator does in the admin can be scripted: cancel, retry failed records, list them,
test fetch, the checkpoint, schedules, connections and plugins, through the real call_command
(and manage.py subprocesses for exit codes). Each action leaves the record the admin leaves."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from fakeapi.control import FakeApi
from syncers.models import FailedRecord, SyncClient, SyncRun
from syncers.services import sync_run_request

from .processes import ROOT, child_env, wait_until

IDLE = "nobody-consumes-this"  # a queue no worker reads: runs and batches stay where they are


def manage(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as failed:
        call_command(*args, stdout=StringIO())
    assert "\n" not in str(failed.value), "an error is one line"
    return failed.value


def history(obj: object) -> list[tuple[str, str]]:
    """(user, message) of the admin log entries about obj, oldest first."""
    entries = LogEntry.objects.filter(object_id=str(obj.pk)).order_by("pk").select_related("user")
    return [(e.user.get_username(), e.change_message) for e in entries]


def failed(
    client: SyncClient, external_id: str, record: object, reason: str = "rejected earlier"
) -> FailedRecord:
    return FailedRecord.objects.create(
        client=client, external_id=external_id, payload=json.dumps(record), reason=reason
    )


# --- sync_cancel ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_ends_a_queued_run_at_once_and_is_logged_under_the_shell_account(make_client) -> None:
    client = make_client(queue=IDLE)
    queued = sync_run_request(client=client, trigger="admin", who="op")

    out = run("sync_cancel", client.name)

    queued.refresh_from_db()
    assert (queued.status, queued.cancel_requested_by) == ("cancelled", "manage.py sync_cancel")
    assert out == f"run #{queued.pk} of products cancelled\n"
    assert history(client) == [
        ("manage.py", f"Cancel run #{queued.pk}: cancelled (by manage.py sync_cancel)")
    ]
    account = get_user_model().objects.get(username="manage.py")
    assert not account.is_active and not account.has_usable_password(), "it cannot log in"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_cancel_with_wait_stops_a_running_run_between_pages(api: FakeApi, make_client) -> None:
    api.reset(records=1000, page_delay=0.2)
    client = make_client()
    alice = get_user_model().objects.create_user("alice")
    running = sync_run_request(client=client, trigger="admin", who="op")
    wait_until(lambda: SyncRun.objects.get(pk=running.pk).pages >= 2, timeout=30, what="two pages")

    out = run("sync_cancel", client.name, "--wait", "30", "--by", "alice")

    running.refresh_from_db()
    assert running.status == "cancelled" and running.pages < 21, "it stopped before the end"
    assert running.cancel_requested_by == "alice"
    assert "asked to stop; it stops between pages and batches" in out
    assert f"run #{running.pk} of products: cancelled" in out
    (entry,) = LogEntry.objects.filter(object_id=str(client.pk))
    assert (entry.user, entry.change_message) == (alice, f"Cancel run #{running.pk}: requested")


@pytest.mark.django_db
def test_cancel_says_clearly_when_there_is_nothing_to_cancel(make_client) -> None:
    client = make_client(queue=IDLE)
    other = make_client("orders", queue=IDLE)
    foreign = SyncRun.objects.create(client=other, trigger="admin")
    ended = SyncRun.objects.create(client=client, trigger="admin", status="succeeded")

    assert str(fails("sync_cancel", client.name)) == "products has no queued or running run to cancel"
    assert str(fails("sync_cancel", client.name, "--run", str(foreign.pk))) == (
        f"run #{foreign.pk} is not a run of products"
    )
    assert "has already ended (succeeded)" in str(fails("sync_cancel", client.name, "--run", str(ended.pk)))
    assert SyncRun.objects.get(pk=foreign.pk).status == "queued"
    assert not LogEntry.objects.exists()


@pytest.mark.django_db
def test_cancel_wait_exits_non_zero_when_the_run_does_not_stop_in_time(make_client) -> None:
    client = make_client(queue=IDLE)
    stuck = SyncRun.objects.create(client=client, trigger="admin", status="running")  # nobody runs it

    error = fails("sync_cancel", client.name, "--wait", "1")

    assert f"run #{stuck.pk} still running after 1s" in str(error) and error.returncode == 1
    assert SyncRun.objects.get(pk=stuck.pk).cancel_requested, "the request itself was recorded"


@pytest.mark.django_db(transaction=True)
def test_cancel_wait_exits_non_zero_when_the_run_ends_otherwise_before_it_sees_the_cancel(
    make_client,
) -> None:
    client = make_client(queue=IDLE)
    late = SyncRun.objects.create(client=client, trigger="admin", status="running")
    # The pipeline finishing its last batch just after the request, as a worker would.
    finish = threading.Timer(0.5, lambda: SyncRun.objects.filter(pk=late.pk).update(status="succeeded"))
    finish.start()
    try:
        error = fails("sync_cancel", client.name, "--wait", "10")
    finally:
        finish.join()

    assert str(error) == f"run #{late.pk} ended succeeded before it saw the cancel"
    assert error.returncode == 1
