"""Staging a page (pipeline.stage.stage_page): its batches, its bookkeeping and the checkpoint
after it commit together, and only for the run that holds the client's current fence and was
not asked to cancel. On PostgreSQL all of it is one statement, its own transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from syncers.models import SyncBatch, SyncClient, SyncRun
from syncers.pipeline.chunk import SEND_TO_WORKERS
from syncers.pipeline.fence import FenceLost, take_fence
from syncers.pipeline.stage import Cancelled, stage_page
from syncers.registry import Page

pytestmark = pytest.mark.django_db(transaction=True)


def _running(client: SyncClient) -> SyncRun:
    return SyncRun.objects.create(
        client=client, trigger="command", status="running", fence=take_fence(client.pk)
    )


def _page(number: int, ids: range) -> Page:
    return Page(number, [{"id": i, "name": f"n{i}"} for i in ids], {"next_page": number + 1}, False)


@pytest.fixture
def no_sends() -> Iterator[None]:
    token = SEND_TO_WORKERS.set(False)
    yield
    SEND_TO_WORKERS.reset(token)


def _state(client: SyncClient, run: SyncRun) -> tuple:
    client.refresh_from_db()
    run.refresh_from_db()
    batches = list(SyncBatch.objects.filter(run=run).order_by("pk").values_list("page", "size", "payload"))
    return client.checkpoint, run.pages, run.fetched, batches


def test_a_page_larger_than_the_batch_size_is_staged_as_batches_in_order_with_its_checkpoint(
    make_client, no_sends
) -> None:
    client = make_client()
    run = _running(client)

    ids = stage_page(run=run, page=_page(3, range(1, 8)), batch_size=3, queue="sync")

    checkpoint, pages, fetched, batches = _state(client, run)
    assert (checkpoint, pages, fetched) == ({"next_page": 4}, 1, 7)
    assert [b[:2] for b in batches] == [(3, 3), (3, 3), (3, 1)] and ids == sorted(ids)
    assert [r["id"] for b in batches for r in json.loads(b[2])] == list(range(1, 8))


def test_a_run_whose_fence_was_taken_stages_nothing_and_moves_no_checkpoint(make_client, no_sends) -> None:
    client = make_client()
    run = _running(client)
    stage_page(run=run, page=_page(1, range(1, 4)), batch_size=10, queue="sync")
    take_fence(client.pk)  # another run started

    with pytest.raises(FenceLost):
        stage_page(run=run, page=_page(2, range(4, 7)), batch_size=10, queue="sync")

    checkpoint, pages, fetched, batches = _state(client, run)
    assert (checkpoint, pages, fetched, len(batches)) == ({"next_page": 2}, 1, 3, 1)


def test_a_run_asked_to_cancel_stages_nothing_of_the_next_page(make_client, no_sends) -> None:
    client = make_client()
    run = _running(client)
    SyncRun.objects.filter(pk=run.pk).update(cancel_requested=True)

    with pytest.raises(Cancelled):
        stage_page(run=run, page=_page(1, range(1, 4)), batch_size=10, queue="sync", stop_if_cancelled=True)

    assert _state(client, run) == (None, 0, 0, [])


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="one statement: PostgreSQL's data-modifying WITH"
)
def test_on_postgresql_a_page_is_one_statement_in_its_own_transaction(
    make_client, no_sends, monkeypatch
) -> None:
    """Each round trip of the fetching thread waits for the interpreter lock again, which the
    page reader and the look-up hold in turns: BEGIN, the fence check, the batches, the page's
    bookkeeping and COMMIT were five round trips."""
    client = make_client()
    run = _running(client)
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def counting(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(str(query))
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    stage_page(run=run, page=_page(1, range(1, 4)), batch_size=10, queue="sync", stop_if_cancelled=True)
    monkeypatch.undo()

    assert len(sent) == 1 and connection.get_autocommit(), sent
    assert _state(client, run)[:3] == ({"next_page": 2}, 1, 3)
