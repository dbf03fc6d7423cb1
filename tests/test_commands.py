"""`manage.py sync_run` goes through the same queue and pipeline as a scheduled run."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from fakeapi.control import FakeApi
from syncers.models import SyncedRecord, SyncRun

from .processes import ROOT, child_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]


def test_sync_run_wait_prints_the_outcome_and_counts(api: FakeApi, make_client) -> None:
    client = make_client()
    out = StringIO()

    call_command("sync_run", client.name, "--wait", stdout=out)

    run = SyncRun.objects.get(client=client)
    assert run.trigger == "command" and run.status == "succeeded"
    assert f"run #{run.pk} of products: succeeded" in out.getvalue()
    assert "fetched=250 created=250 updated=0 unchanged=0 failed=0" in out.getvalue()


def test_a_failing_run_exits_non_zero_and_keeps_what_it_fetched(api: FakeApi, make_client) -> None:
    api.configure(fail_pages={"3": 404})
    client = make_client()

    result = subprocess.run(
        [sys.executable, "manage.py", "sync_run", client.name, "--wait", "--timeout", "60"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "failed" in result.stdout and "PermanentError: HTTP 404" in result.stdout
    assert SyncedRecord.objects.filter(client=client).count() == 100, "pages 1-2 are kept"
    client.refresh_from_db()
    assert client.checkpoint == {"next_page": 3}, "the next run resumes at the failed page"


def test_an_unknown_client_is_one_clear_error(make_client) -> None:
    make_client()
    with pytest.raises(CommandError, match="unknown sync client 'nope' \\(known: products\\)"):
        call_command("sync_run", "nope")


@pytest.mark.django_db
def test_sync_run_refuses_a_paused_client_with_the_reason_and_force_runs_it_once(api, make_client) -> None:
    from syncers.services import client_pause

    client = make_client()
    client_pause(client=client, who="ops", reason="vendor maintenance")

    with pytest.raises(
        CommandError, match=r"client products is paused \(.*vendor maintenance\): resume it or use --force"
    ):
        call_command("sync_run", "products", "--inline")
    assert not SyncRun.objects.exists()

    out = StringIO()
    call_command("sync_run", "products", "--inline", "--force", stdout=out)
    run = SyncRun.objects.get()
    assert (run.status, run.forced, run.created) == ("succeeded", True, 250)
    client.refresh_from_db()
    assert client.state == "paused" and client.pause_reason == "vendor maintenance"
