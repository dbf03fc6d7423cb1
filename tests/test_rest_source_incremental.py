"""Incremental mode end to end: the committed cursor goes out as `updated_since`, only changed
records come back, and records that share a timestamp across a page boundary are never
skipped (inclusive boundary, duplicates absorbed by the load), even when a run is stopped in
the middle of such a group and more records arrive with the same timestamp."""

from __future__ import annotations

from typing import Any

import pytest

from fakeapi.control import FakeApi
from syncers.models import SyncedRecord, SyncRun
from syncers.pipeline.stage import save_checkpoint
from syncers.selectors import run_wait_final
from syncers.services import sync_fetch_here

from .test_rest_source_pagination import STYLES, rest_client, run_now, served, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]

BASE_TIME = "2026-01-01T00:01:00Z"  # updated_at of every fake record never edited


def since_sent(api: FakeApi, path: str, calls_before: int) -> list[Any]:
    return [c["query"].get("updated_since") for c in api.calls(path)[calls_before:]]


@pytest.mark.parametrize("style", STYLES)
def test_second_run_sends_the_cursor_and_gets_only_changed_records(api: FakeApi, make_client, style) -> None:
    api.reset(records=120)
    newest = api.touch([5])  # the first run's greatest updated_at is record 5's
    client = rest_client(make_client, style, incremental={})
    path = STYLES[style]["path"]

    first = run_now(client)
    client.refresh_from_db()
    after_first = client.checkpoint
    calls = len(api.calls(path))
    changed = api.touch([7, 100])
    second = run_now(client)

    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    assert (first.fetched, first.created) == (120, 120)
    assert since_sent(api, path, 0)[:calls] == [None] * calls, "the first run reads everything"
    assert after_first == {"updated_since": newest}
    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert set(since_sent(api, path, calls)) == {newest}, "every request of run 2 carries the cursor"
    # 7 and 100 changed; 5 is read again at the inclusive boundary and found unchanged.
    assert (second.fetched, second.created, second.updated, second.unchanged) == (3, 0, 2, 1)
    client.refresh_from_db()
    assert client.checkpoint == {"updated_since": changed}
    assert stored(client) == served(api)


# Records the resumed run could not see and the next run's inclusive boundary picked up: with a
# keyset cursor only the late arrival behind the cursor (5); with page numbers also record 21,
# which the late arrivals shifted from page 7 onto page 6, already read.
MISSED_THEN_RECOVERED = {"cursor": 1, "page": 2}


@pytest.mark.parametrize("style", MISSED_THEN_RECOVERED)
def test_records_sharing_a_timestamp_across_page_boundaries_are_never_skipped(
    api: FakeApi, make_client, style
) -> None:
    api.reset(records=80)
    client = rest_client(make_client, style, page_size=10, incremental={})
    path = STYLES[style]["path"]

    full = run_now(client)  # all 80 records share one timestamp, over eight pages
    client.refresh_from_db()
    assert full.fetched == 80 and client.checkpoint == {"updated_since": BASE_TIME}
    tie = api.touch(list(range(11, 41)))  # 30 records with one new timestamp: pages 6-8
    stopped = sync_fetch_here(client=client, who="tester", max_pages=6)  # stops inside the group
    stopped = run_wait_final(run_id=stopped.pk, timeout=60)
    client.refresh_from_db()
    assert client.checkpoint["updated_since"] == BASE_TIME and client.checkpoint["max_seen"] == tie
    api.touch([5, 45], at=tie)  # written "in the same second", after the reader passed that spot
    resumed = run_now(client)
    client.refresh_from_db()
    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert client.checkpoint == {"updated_since": tie}
    calls = len(api.calls(path))

    last = run_now(client)

    assert last.status == SyncRun.Status.SUCCEEDED, last.error
    assert set(since_sent(api, path, calls)) == {tie}
    assert last.fetched == 32, "the whole tie group is read again: 30 + the 2 late ones"
    assert last.updated == MISSED_THEN_RECOVERED[style]
    assert stored(client) == served(api), "no record was skipped"
    assert SyncedRecord.objects.get(client=client, external_id="5").data["updated_at"] == tie


def test_the_look_back_window_moves_the_cursor_back(api: FakeApi, make_client) -> None:
    api.reset(records=30)
    client = rest_client(make_client, "cursor", incremental={"lookback_seconds": 90})

    run_now(client)
    client.refresh_from_db()
    cursor = client.checkpoint
    calls = len(api.calls("/products/cursor"))
    second = run_now(client)

    assert cursor == {"updated_since": "2025-12-31T23:59:30Z"}, "the greatest updated_at minus 90 s"
    assert set(since_sent(api, "/products/cursor", calls)) == {"2025-12-31T23:59:30Z"}
    assert (second.fetched, second.unchanged) == (30, 30)


def test_a_run_that_finds_nothing_new_keeps_its_cursor(api: FakeApi, make_client) -> None:
    client = rest_client(make_client, "offset", incremental={"param": "updated_since", "field": "updated_at"})
    save_checkpoint(client.pk, {"updated_since": "2030-01-01T00:00:00Z"})

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.pages, run.fetched) == (1, 0)
    assert api.calls("/products/offset")[0]["query"]["updated_since"] == "2030-01-01T00:00:00Z"
    client.refresh_from_db()
    assert client.checkpoint == {"updated_since": "2030-01-01T00:00:00Z"}, "not a full sync next time"


def test_a_run_that_died_after_its_last_page_finishes_without_a_request(api: FakeApi, make_client) -> None:
    client = rest_client(make_client, "cursor", incremental={})
    tie = "2026-01-01T00:05:00Z"
    # What a run leaves when it stored its last page and died before it could say it was done.
    save_checkpoint(client.pk, {"listing_done": True, "page": 6, "updated_since": BASE_TIME, "max_seen": tie})

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.pages, run.fetched) == (1, 0)
    assert api.calls("/products/cursor") == []
    client.refresh_from_db()
    assert client.checkpoint == {"updated_since": tie}
