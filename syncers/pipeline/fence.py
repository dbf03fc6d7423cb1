"""Fencing: every run start takes a new number from the client row; every durable write of a
run checks, inside its own transaction, that the number is still current. A run that lost its
lease (stopped process, expired TTL) therefore cannot write, whatever its lock believes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from syncers.models import SyncClient


class FenceLost(Exception):
    """A newer run has started for this client; this run's writes are refused."""


def take_fence(client_id: int) -> int:
    """Raise the client's fence and return it. Call inside the run-start transaction.

    On PostgreSQL the row is locked FOR UPDATE first: that waits for every writer holding the
    fence's key-share lock (check_fence) to commit or roll back, which a plain UPDATE would not."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT 1 FROM syncers_syncclient WHERE id = %s FOR UPDATE", [client_id])
    SyncClient.objects.filter(pk=client_id).update(fence=F("fence") + 1)
    return SyncClient.objects.values_list("fence", flat=True).get(pk=client_id)


def check_fence(client_id: int, fence: int | None, *, relax: bool = False, run_id: int | None = None) -> bool:
    """Inside a transaction: refuse unless `fence` is current, and keep it current until commit.

    On PostgreSQL the row is locked FOR KEY SHARE, so a new run's `take_fence` (FOR UPDATE)
    waits for this write to commit, while writers of the same run do not block each other nor
    the plain UPDATEs of the client row (checkpoint saves, counters): a FOR SHARE lock made the
    fetcher's checkpoint save wait for every loading batch. SQLite's IMMEDIATE transactions
    already serialise all writers.

    `relax`: also relax_commit(), in the same round trip (PostgreSQL). `run_id`: also read,
    in the same round trip, whether an operator asked that run to cancel (returned; False
    without `run_id`)."""
    cancel = "(SELECT cancel_requested FROM syncers_syncrun WHERE id = %s)" if run_id is not None else "0"
    # FOR KEY SHARE locks the client row only, not the run the subquery reads.
    sql = f"SELECT fence, {cancel} FROM syncers_syncclient WHERE id = %s"
    params = [client_id] if run_id is None else [run_id, client_id]
    if connection.vendor == "postgresql":
        sql += " FOR KEY SHARE"
        if relax:  # the cursor stays on the first statement's rows
            sql += "; " + _relax_sql()
    elif relax:
        relax_commit()
    with connection.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    if row is None or row[0] != fence:
        raise FenceLost(f"client {client_id}: fence {fence} is stale (current {row and row[0]})")
    return bool(row[1])


def hold_client(client_id: int) -> bool:
    """Inside a transaction: lock the client row FOR KEY SHARE until commit, as check_fence
    does, for a write that has no fence (pushed records); False when the client is gone. The
    records table has no foreign key to the client (see SyncedRecord.client): this lock is
    what keeps a load from writing rows for a client being deleted (syncers.schedules.signals)."""
    sql = "SELECT 1 FROM syncers_syncclient WHERE id = %s"
    if connection.vendor == "postgresql":
        sql += " FOR KEY SHARE"
    with connection.cursor() as cur:
        cur.execute(sql, [client_id])
        return cur.fetchone() is not None


def relax_commit() -> None:
    """Inside a pipeline transaction (PostgreSQL): don't wait for the WAL flush at commit, and
    let the server end the session if it stops talking mid-transaction for a lease TTL.

    Safe for our promises: WAL is replayed in order, so a database crash can only lose the
    newest commits whole — staged pages together with their checkpoint, a batch's merge
    together with its done flag — and the next run or the reconciler redoes exactly those.
    It removes one disk flush per page and per batch.

    The idle timeout (SYNC_IDLE_TRANSACTION_TIMEOUT) bounds a frozen writer (SIGSTOP, VM
    pause, hung client): its key-share lock on the client row would otherwise block the next
    run's fence for ever. Ending it rolls its transaction back whole, and its batch is loaded
    again. It must exceed the longest healthy pause between two statements of one step (a
    slow handler's per-record work in the row-by-row merge), or that batch can never load."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(_relax_sql())


def _relax_sql() -> str:
    idle_ms = int(settings.SYNC_IDLE_TRANSACTION_TIMEOUT * 1000)
    return f"SET LOCAL synchronous_commit TO OFF; SET LOCAL idle_in_transaction_session_timeout = {idle_ms}"


@contextmanager
def fenced(client_id: int, fence: int | None, *, run_id: int | None = None) -> Iterator[bool]:
    """A transaction that only commits if `fence` is still the client's current fence. It
    yields whether run `run_id` was asked to cancel (False without one), read as it starts."""
    with transaction.atomic():
        yield check_fence(client_id, fence, relax=True, run_id=run_id)  # one round trip for all
