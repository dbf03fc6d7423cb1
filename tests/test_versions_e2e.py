"""Newest version wins by the record's own version, end to end: fake API over HTTP -> real
worker -> database, in the in-database PostgreSQL merge, the row-by-row merge and webhooks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from fakeapi.control import FakeApi
from syncers.hooks import signed_headers
from syncers.models import FailedRecord, SyncedRecord, SyncRun
from syncers.selectors import run_wait_final
from syncers.services import failed_records_retry

from .test_rest_source_pagination import rest_client, run_now

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]

DAY_EARLIER = "2025-12-31T00:01:00Z"  # a day before every fake record's updated_at


def serve_stale_copy(api: FakeApi, *, of: int, at: int) -> dict[str, Any]:
    """List an older copy of record `of` (0-based) again at position `at`, like a stale cache."""
    fresh = api.records()[of]
    stale = {**fresh, "name": "stale copy", "updated_at": DAY_EARLIER}
    api.replace(at, stale)
    return fresh


@pytest.mark.parametrize(
    ("page_size", "where"),
    [(50, "in one batch"), (10, "across batches")],
)
def test_an_older_copy_listed_later_never_replaces_the_newer_one(
    api: FakeApi, make_client, page_size: int, where: str
) -> None:
    api.reset(records=30)
    fresh = serve_stale_copy(api, of=2, at=20)
    client = rest_client(make_client, "page", page_size=page_size, version_field="updated_at")

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    stored = SyncedRecord.objects.get(client=client, external_id=str(fresh["id"]))
    assert stored.data == fresh, where
    assert run.older == 1
    assert "1 older copy ignored" in run_page(client, run)


def test_without_a_version_field_the_last_copy_served_wins(api: FakeApi, make_client) -> None:
    api.reset(records=30)
    fresh = serve_stale_copy(api, of=2, at=20)
    client = rest_client(make_client, "page", page_size=50)

    run = run_now(client)

    assert SyncedRecord.objects.get(client=client, external_id=str(fresh["id"])).data["name"] == "stale copy"
    assert run.older == 0


def test_incremental_mode_orders_copies_by_the_incremental_field(api: FakeApi, make_client) -> None:
    api.reset(records=30)
    fresh = serve_stale_copy(api, of=2, at=20)
    client = rest_client(make_client, "page", page_size=10, incremental={})

    run = run_now(client)

    assert SyncedRecord.objects.get(client=client, external_id=str(fresh["id"])).data == fresh
    assert run.older == 1


def test_the_row_by_row_merge_obeys_the_version_rule(api: FakeApi, make_client) -> None:
    # A \u0000 in one record makes PostgreSQL refuse the batch as a whole: row by row.
    api.reset(records=30)
    fresh = serve_stale_copy(api, of=2, at=20)
    api.replace(25, {"id": 99_999, "name": "nul \u0000 inside", "updated_at": DAY_EARLIER})
    client = rest_client(make_client, "page", page_size=50, version_field="updated_at")

    run = run_now(client)

    assert SyncedRecord.objects.get(client=client, external_id=str(fresh["id"])).data == fresh
    assert (run.older, run.failed) == (1, 1)


def test_a_pushed_older_version_never_overwrites_a_newer_one(make_client) -> None:
    client = make_client(config={"page_size": 50, "version_field": "meta.rev"})
    client.set_hook_secret(SECRET)
    client.save(update_fields=["hook_secret_ciphertext"])
    newer = {"id": 1, "meta": {"rev": 7}, "name": "seventh"}

    first = push_records(client, [newer, {"id": 1, "meta": {"rev": 6}, "name": "sixth, stale"}])
    second = push_records(client, [{"id": 1, "meta": {"rev": 5}, "name": "fifth, late delivery"}])
    third = push_records(client, [{"id": 1, "meta": {"rev": 8}, "name": "eighth"}])

    assert (first.created, first.older) == (1, 1)
    assert (second.updated, second.unchanged, second.older) == (0, 1, 1)
    assert third.updated == 1
    assert SyncedRecord.objects.get(client=client, external_id="1").data["name"] == "eighth"


def test_a_record_failing_on_every_run_keeps_one_failed_record_with_its_attempts(
    api: FakeApi, make_client
) -> None:
    api.reset(records=12)
    api.replace(3, {"name": "no id, always"})
    api.replace(5, {"id": "", "name": "empty id"})
    api.replace(8, {"id": 8_008, "name": "nul \u0000 inside"})  # PostgreSQL cannot store it
    client = rest_client(make_client, "page", page_size=50)

    runs = [run_now(client) for _ in range(3)]

    assert [r.failed for r in runs] == [3, 3, 3]
    rows = FailedRecord.objects.filter(client=client)
    assert rows.count() == 3
    assert sorted(rows.values_list("attempts", flat=True)) == [3, 3, 3]
    assert set(rows.values_list("run_id", flat=True)) == {runs[-1].pk}
    big = rows.get(external_id="8008")
    assert big.record_key == "8008" and big.last_seen_at > big.created_at
    keyless = rows.exclude(pk=big.pk)
    assert all(r.record_key.startswith("sha256:") for r in keyless)

    api.replace(8, {"id": 8_008, "name": "fixed at the source"})
    fixed = run_now(client)
    assert (fixed.created, fixed.failed) == (1, 2)
    assert not rows.filter(external_id="8008").exists(), "a record that loads leaves failed records"
    assert rows.count() == 2


def test_a_retried_record_that_fails_again_keeps_counting_attempts(api: FakeApi, make_client) -> None:
    api.reset(records=5)
    api.replace(1, {"name": "no id"})
    client = rest_client(make_client, "page", page_size=50)
    run_now(client)
    run_now(client)

    outcome = failed_records_retry(client=client, who="alice")
    retry = run_wait_final(run_id=outcome.run.pk, timeout=30)

    assert retry.failed == 1
    row = FailedRecord.objects.get(client=client)
    assert (row.attempts, row.run_id) == (3, retry.pk)


SECRET = "hook-secret-for-tests"


def push_records(client, records: list[Any]) -> SyncRun:
    body = json.dumps({"records": records}).encode()
    answer = Client().post(
        f"/hooks/{client.name}/",
        data=body,
        content_type="application/json",
        headers=signed_headers(SECRET, body),
    )
    assert answer.status_code == 202, answer.content
    return run_wait_final(run_id=answer.json()["run"], timeout=30)


def run_page(client, run: SyncRun) -> str:
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    browser = Client()
    browser.force_login(admin)
    return browser.get(f"/admin/syncers/syncrun/{run.pk}/change/").content.decode()
