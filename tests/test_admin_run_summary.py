"""A run's page tells its story in the summary box at the top: the error of a failed run, the
earlier run a resumed run continued from, a link to a partial run's own failed records, and
the listing size the API reported (the only case where progress shows a percentage)."""

from __future__ import annotations

import pytest
from django.test import Client

from fakeapi.control import FakeApi
from syncers.models import FailedRecord, SyncRun
from syncers.selectors import run_progress, run_wait_final
from syncers.services import sync_fetch_here, sync_run_request


def run_page(admin_client: Client, run: SyncRun) -> str:
    return admin_client.get(f"/admin/syncers/syncrun/{run.pk}/change/").content.decode()


@pytest.mark.django_db
def test_a_failed_runs_error_is_in_the_summary_box_and_the_final_bar_is_full(
    admin_client, make_client
) -> None:
    run = SyncRun.objects.create(
        client=make_client(), trigger="admin", status="failed", error="HTTP 500 from /products page 3"
    )

    page = run_page(admin_client, run)

    box = page[page.index('id="run-progress"') : page.index('id="progress-percent"')]
    assert (
        '<p class="errornote sync-run-error" data-show="error" data-field="error" id="progress-error">' in box
    )
    assert "HTTP 500 from /products page 3" in box
    assert 'data-outcome="failed"' in box and 'style="width:100%"' in box
    assert run_progress(run=run)["progress_text"] == "100%"


@pytest.mark.django_db
def test_a_failed_runs_page_says_its_error_once_and_its_kind_and_wait_below(
    admin_client, make_client
) -> None:
    run = SyncRun.objects.create(
        client=make_client(),
        trigger="admin",
        status="failed",
        error="HTTP 503 from /products page 2",
        error_kind="TransientError",
        retry_after=30.0,
    )

    page = run_page(admin_client, run)

    assert page.count("HTTP 503 from /products page 2") == 1  # in the summary box, not again below
    details = page[page.index(">Error details<") :]
    assert "TransientError" in details and "30.0" in details
    assert ">Error<" not in page and ">Notes<" not in page


@pytest.mark.django_db
def test_a_successful_runs_page_has_no_empty_error_section_and_shows_its_notes(
    admin_client, make_client
) -> None:
    client = make_client()
    quiet = SyncRun.objects.create(client=client, trigger="admin", status="succeeded")
    noted = SyncRun.objects.create(
        client=client, trigger="admin", status="succeeded", notes="the listing changed while it was read"
    )

    quiet_page = run_page(admin_client, quiet)
    noted_page = run_page(admin_client, noted)

    for heading in (">Error<", ">Error details<", ">Notes<", "error kind", "retry after"):
        assert heading not in quiet_page, heading
    assert ">Error<" not in noted_page and ">Error details<" not in noted_page
    assert "the listing changed while it was read" in noted_page[noted_page.index(">Notes<") :]


@pytest.mark.django_db
def test_a_partial_run_links_to_its_own_failed_records(admin_client, make_client) -> None:
    client = make_client()
    older = SyncRun.objects.create(client=client, trigger="admin", status="partial", failed=1)
    run = SyncRun.objects.create(client=client, trigger="admin", status="partial", failed=2)
    for n, owner in enumerate([older, run, run]):
        FailedRecord.objects.create(
            client=client, run=owner, external_id=f"x{n}", payload="{}", reason="no id"
        )

    page = run_page(admin_client, run)
    link = f"/admin/syncers/failedrecord/?run__id__exact={run.pk}"
    assert (
        f'<a href="{link}"><span data-field="failed_records_text">2 failed records</span> of this run</a>'
        in page
    )

    listing = admin_client.get(link)
    assert listing.status_code == 200  # not the admin's "?e=1" refusal of an unknown filter
    assert "2 failed records" in listing.content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_a_resumed_run_says_which_run_and_page_it_continued_from(
    admin_client, make_client, api: FakeApi
) -> None:
    api.reset(records=237)
    client = make_client(
        name="rest-cursor",
        handler="rest",
        config={"pagination": "cursor", "path": "/products/cursor", "page_size": 50},
    )
    first = run_wait_final(run_id=sync_fetch_here(client=client, who="tester", max_pages=2).pk, timeout=60)
    second = run_wait_final(
        run_id=sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester").pk, timeout=60
    )

    assert second.continued_from == f"continued from page 3 of run #{first.pk}"
    assert f'This run <span data-field="continued_from">continued from page 3 of run #{first.pk}</span>.' in (
        run_page(admin_client, second)
    )
    assert first.continued_from == "" and first.listing_total is None  # a cursor listing has no size


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_a_listing_that_reports_its_size_records_it_on_the_run(make_client, api: FakeApi) -> None:
    api.reset(records=237)
    client = make_client(
        name="rest-page",
        handler="rest",
        config={"pagination": "page", "path": "/products", "total_path": "total"},
    )
    run = run_wait_final(
        run_id=sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester").pk, timeout=60
    )

    assert (run.status, run.listing_total) == ("succeeded", 237)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_a_run_that_adopts_unloaded_batches_says_whose(admin_client, make_client, api: FakeApi) -> None:
    from syncers.models import SyncBatch

    client = make_client()
    dead = SyncRun.objects.create(client=client, trigger="schedule", status="abandoned", fence=1)
    SyncBatch.objects.create(client=client, run=dead, fence=1, page=1, size=0, payload="[]")

    run = run_wait_final(
        run_id=sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester").pk, timeout=60
    )

    assert run.status == "succeeded", run.error
    assert run.continued_from == f"adopted 1 unloaded batch of run #{dead.pk}"
    assert f"adopted 1 unloaded batch of run #{dead.pk}" in run_page(admin_client, run)


@pytest.mark.django_db
def test_a_finished_runs_phase_says_when_and_how_long_not_its_status_again(make_client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    run = SyncRun.objects.create(
        client=make_client(), trigger="admin", status="succeeded",
        started_at=now - timedelta(seconds=3.2), finished_at=now,
    )  # fmt: skip
    progress = run_progress(run=run)
    assert progress["status_label"] == "succeeded"  # the badge
    assert progress["phase"] == f"finished {progress['finished_at']}, took 3.2s"
