"""Page-number listings under deletion: where the API reports its size, a run that read fewer
records than the listing held says so on the run (notes, log), end to end with a real worker."""

from __future__ import annotations

import pytest

from fakeapi.control import FakeApi
from syncers.handlers.totals import reported_total
from syncers.models import SyncedRecord, SyncRun

from .test_rest_source_pagination import rest_client, run_now


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_records_deleted_mid_run_are_reported_as_a_changed_listing(api: FakeApi, make_client) -> None:
    api.reset(records=100)
    # Between listing requests 2 and 3: three records of page 1 go (read already), so records
    # 21-23 move onto page 2, already read, and this run never sees them: it reads 97 records,
    # three of them deleted since, while 100 were listed when it started.
    api.delete([3, 4, 5], after=2)
    client = rest_client(make_client, "page", page_size=10, total_path="total")

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.fetched == 97
    assert {"21", "22", "23"}.isdisjoint(
        SyncedRecord.objects.filter(client=client).values_list("external_id", flat=True)
    )
    assert run.notes == "listing changed during the run: read 97 of 100 (97 listed at the end)"
    assert run.error == ""


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_a_listing_read_whole_leaves_no_note(api: FakeApi, make_client) -> None:
    api.reset(records=45)
    client = rest_client(make_client, "page", page_size=10, total_path="total")

    run = run_now(client)

    assert (run.fetched, run.notes) == (45, "")


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"x-total-count": "2500"}, {}, 2500),
        ({}, {"meta": {"total": 7}}, 7),
        ({}, {"meta": {"total": "7"}}, 7),
        ({}, {"meta": {"total": True}}, None),
        ({}, [1, 2], None),
    ],
)
def test_the_total_comes_from_the_header_or_the_body(headers, body, expected) -> None:
    assert reported_total(headers, body, "meta.total") == expected
